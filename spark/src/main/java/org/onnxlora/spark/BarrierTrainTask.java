package org.onnxlora.spark;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.DataParallelLoop;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.parallel.RingAllReduce;
import org.onnxlora.parallel.RingOptions;
import org.onnxlora.parallel.StopVerdict;
import scala.Tuple2;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;

/**
 * The body of one barrier task: its shard in input order, a worker, one rendezvous, the ring, the
 * step loop. Rank 0 returns the outcome, the others nothing; a verdict (bad input, {@link
 * StopVerdict#isVerdict}) met by any rank before training, or on every rank at once, is returned by
 * every rank that throws it, so the stage succeeds and the driver reports it. Anything else (a lost
 * peer, an IO error, a crash) fails the task: Spark restarts the stage, which resumes from the last
 * checkpoint.
 */
final class BarrierTrainTask extends AbstractFunction1<Iterator<Tuple2<Long, String[]>>, Iterator<TaskResult>>
        implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final SparkTrainConfig config;
    private final WorkerFactory factory;

    BarrierTrainTask(SparkTrainConfig config, WorkerFactory factory) {
        this.config = config;
        this.factory = factory;
    }

    @Override
    public Iterator<TaskResult> apply(Iterator<Tuple2<Long, String[]>> rows) {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        int rank = ctx.partitionId();
        int size = ctx.getTaskInfos().length;
        WorkerContext wc = new WorkerContext(rank, size, ctx.stageAttemptNumber());
        List<TextPair> shard = shard(rows);
        RingOptions options = RingOptions.loopback().withStepTimeout(config.stepTimeout())
                .withBindHost(config.bindHost() != null ? config.bindHost() : host(ctx.getTaskInfos()[rank].address()));
        List<TaskResult> out;
        try {
            out = train(wc, shard, ctx, options);
        } catch (OnnxLoraException e) {
            if (!StopVerdict.isVerdict(e)) {
                throw e;
            }
            out = List.of(TaskResult.stopped(rank, e));
        }
        return CollectionConverters.asScala(out.iterator());
    }

    private List<TaskResult> train(WorkerContext wc, List<TextPair> shard, BarrierTaskContext ctx, RingOptions options) {
        DataParallelWorker built = null;
        OnnxLoraException notBuilt = null;
        try {
            built = factory.create(wc, shard);
        } catch (OnnxLoraException e) {
            if (!StopVerdict.isVerdict(e)) {
                throw e;
            }
            notBuilt = e; // still join the rendezvous: the others learn why instead of waiting
        }
        try (DataParallelWorker worker = built;
             RingAllReduce ring = RingAllReduce.join(wc.rank(), wc.size(), built == null ? null : built.fingerprint(),
                     notBuilt, new BarrierExchange(ctx), options)) {
            DataParallelLoop.Result r = DataParallelLoop.run(worker, ring,
                    new DataParallelLoop.Options(config.steps(), config.checkpointEvery()));
            return wc.rank() == 0
                    ? List.of(TaskResult.trained(0, new TrainOutcome(r.resumedFrom(), wc.attempt(), List.copyOf(r.meanLosses()))))
                    : List.of();
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
