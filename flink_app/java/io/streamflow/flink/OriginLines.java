package io.streamflow.flink;

import org.apache.flink.api.common.functions.MapFunction;

/**
 * Each line after an origin and a newline: the form {@code KafkaLines} gives a Kafka record, for a
 * source whose lines carry none (the stream's {@code --labels} files: {@code labels:<path>}). A raw
 * line holds no newline, so the first one ends the origin.
 */
public final class OriginLines implements MapFunction<String, String> {

    private static final long serialVersionUID = 1L;

    private final String prefix;

    /** Lines that begin with {@code origin}, which must hold no newline. */
    public OriginLines(String origin) {
        if (origin.indexOf('\n') >= 0) {
            throw new IllegalArgumentException("an origin holds no newline");
        }
        this.prefix = origin + "\n";
    }

    @Override
    public String map(String line) {
        return prefix + line;
    }
}
