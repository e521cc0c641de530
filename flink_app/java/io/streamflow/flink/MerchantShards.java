package io.streamflow.flink;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * The customer stage's output array {@code [merchant, stamp, payload, ...]} split by shard of
 * merchant ids ({@link MiniBatchLines#shardOf}): one {@code Row(shard, [merchant, stamp, payload,
 * ...])} per shard it holds, events in their order, for {@code keyBy} to {@link MerchantBatches}.
 */
public final class MerchantShards implements FlatMapFunction<String[], Row> {

    private static final long serialVersionUID = 1L;

    private final int shards;

    public MerchantShards(int shards) {
        if (shards < 1) {
            throw new IllegalArgumentException("shards must be positive");
        }
        this.shards = shards;
    }

    @Override
    public void flatMap(String[] triples, Collector<Row> out) {
        Map<Integer, List<String>> byShard = new LinkedHashMap<>();
        for (int index = 0; index + 2 < triples.length; index += 3) {
            int shard = MiniBatchLines.shardOf(triples[index], shards);
            List<String> events = byShard.computeIfAbsent(shard, ignored -> new ArrayList<>());
            events.add(triples[index]);
            events.add(triples[index + 1]);
            events.add(triples[index + 2]);
        }
        for (Map.Entry<Integer, List<String>> entry : byShard.entrySet()) {
            out.collect(Row.of(Integer.toString(entry.getKey()), entry.getValue().toArray(new String[0])));
        }
    }
}
