package org.onnxlora.spark;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.DataParallelLoop;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.parallel.RingAllReduce;
import org.onnxlora.parallel.RingOptions;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * The body of one barrier task: its shard in input order, a worker, one rendezvous, the ring, the
 * step loop. Rank 0 returns the outcome; the others return nothing.
 */
final class BarrierTrainTask extends AbstractFunction1<Iterator<Tuple2<Long, String[]>>, Iterator<TrainOutcome>>
        implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final SparkTrainConfig config;
    private final WorkerFactory factory;

    BarrierTrainTask(SparkTrainConfig config, WorkerFactory factory) {
        this.config = config;
        this.factory = factory;
    }

    @Override
    public Iterator<TrainOutcome> apply(Iterator<Tuple2<Long, String[]>> rows) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        int rank = ctx.partitionId();
        int size = ctx.getTaskInfos().length;
        WorkerContext wc = new WorkerContext(rank, size, ctx.stageAttemptNumber());
        List<TextPair> shard = shard(rows);
        RingOptions options = RingOptions.loopback().withStepTimeout(config.stepTimeout())
                .withBindHost(config.bindHost() != null ? config.bindHost() : host(ctx.getTaskInfos()[rank].address()));
        try (DataParallelWorker worker = factory.create(wc, shard);
             RingAllReduce ring = RingAllReduce.join(rank, size, worker.fingerprint(), new BarrierExchange(ctx), options)) {
            DataParallelLoop.Result r = DataParallelLoop.run(worker, ring,
                    new DataParallelLoop.Options(config.steps(), config.checkpointEvery()));
            List<TrainOutcome> out = rank == 0
                    ? List.of(new TrainOutcome(r.resumedFrom(), wc.attempt(), List.copyOf(r.meanLosses())))
                    : List.of();
            return CollectionConverters.asScala(out.iterator());
        }
    }

    private static List<TextPair> shard(Iterator<Tuple2<Long, String[]>> rows) {
        List<Tuple2<Long, String[]>> all = new ArrayList<>();
        rows.foreach(t -> all.add(t));
        // a shuffle delivers rows in no particular order: sort by input index, so every attempt sees the same shard
        all.sort(Comparator.comparingLong(Tuple2::_1));
        List<TextPair> shard = new ArrayList<>(all.size());
        for (Tuple2<Long, String[]> t : all) {
            shard.add(new TextPair(t._2()[0], t._2()[1], Math.toIntExact(t._1())));
        }
        return shard;
    }

    /** "host:port" → host (IPv6 addresses keep their colons). */
    static String host(String address) {
        int colon = address.lastIndexOf(':');
        String h = colon > 0 ? address.substring(0, colon) : address;
        return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
    }
}
