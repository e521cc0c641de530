package io.streamflow.flink;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/**
 * One record per line of a batch's scored records: Python returns them per mini-batch as UTF-8
 * JSON lines joined by newlines ({@code flink_app.keying.SCORED_LINES_TYPE}), one array a batch;
 * the sinks take one string an event. A JSON line holds no raw newline.
 */
public final class ExplodeLines implements FlatMapFunction<byte[], String> {

    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(byte[] lines, Collector<String> out) {
        int start = 0;
        for (int at = 0; at <= lines.length; at++) {
            if (at == lines.length || lines[at] == '\n') {
                if (at > start) {
                    out.collect(new String(lines, start, at - start, StandardCharsets.UTF_8));
                }
                start = at + 1;
            }
        }
    }
}
