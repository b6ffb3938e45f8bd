package org.onnxlora.parallel;

import java.util.List;

/**
 * The one rendezvous of a group: each member publishes a short message (its address and
 * the hash of its model) and receives every member's, in rank order. Called once per group,
 * so a slow exchange (Spark's barrier {@code allGather} polls once a second) costs nothing per step.
 */
@FunctionalInterface
public interface AddressExchange {

    /** Every member's message, index = rank; blocks until all members have published. */
    List<String> allGather(int rank, String message);
}
