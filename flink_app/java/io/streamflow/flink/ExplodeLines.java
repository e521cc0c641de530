package io.streamflow.flink;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.util.Collector;

/** One record per line of a batch's output: what Python returns per mini-batch, one record per event for the sinks. */
public final class ExplodeLines implements FlatMapFunction<String[], String> {

    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(String[] lines, Collector<String> out) {
        for (String line : lines) {
            out.collect(line);
        }
    }
}
