package org.onnxlora.report;

/** The curves a report draws, and where each comes from in metrics.jsonl. */
public enum Metric {
    TRAIN_LOSS("train loss", "train", "loss"),
    VALID_LOSS("validation loss", "eval", "valid_loss"),
    LR("learning rate", "train", "lr"),
    GRAD_NORM("gradient norm", "train", "grad_norm"),
    TOKENS_PER_SECOND("tokens/s", "train", "tokens_per_second");

    private final String label;
    private final String event;
    private final String key;

    Metric(String label, String event, String key) {
        this.label = label;
        this.event = event;
        this.key = key;
    }

    public String label() {
        return label;
    }

    public String event() {
        return event;
    }

    public String key() {
        return key;
    }

    /** A name for ids and data attributes: train_loss, valid_loss, ... */
    public String id() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
