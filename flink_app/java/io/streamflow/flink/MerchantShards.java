package io.streamflow.flink;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * The customer stage's handed-on events ({@link HandoffFrames}, one array a batch) split by shard of
 * merchant ids ({@link MiniBatchLines#shardOf}): one {@code Row(shard, frames)} per shard it holds,
 * events in their order, for {@code keyBy} to {@link MerchantBatches}.
 */
public final class MerchantShards implements FlatMapFunction<byte[], Row> {

    private static final long serialVersionUID = 1L;

    private final int shards;

    public MerchantShards(int shards) {
        if (shards < 1) {
            throw new IllegalArgumentException("shards must be positive");
        }
        this.shards = shards;
    }

    @Override
    public void flatMap(byte[] frames, Collector<Row> out) {
        Map<Integer, List<byte[]>> byShard = new LinkedHashMap<>();
        for (byte[] frame : HandoffFrames.split(frames)) {
            int shard = HandoffFrames.shardOf(frame, shards);
            byShard.computeIfAbsent(shard, ignored -> new ArrayList<>()).add(frame);
        }
        for (Map.Entry<Integer, List<byte[]>> entry : byShard.entrySet()) {
            out.collect(Row.of(Integer.toString(entry.getKey()), HandoffFrames.join(entry.getValue())));
        }
    }
}
