package io.streamflow.flink;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.BasicArrayTypeInfo;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.BoundedOneInput;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.types.Row;

/**
 * The customer stage's accepted events, gathered into mini-batches per shard of merchant ids in
 * ingestion order, for the merchant stage (ADR 0012).
 *
 * <p>Input: arrays {@code [merchant, stamp, payload, ...]}, the stamp being the line's ingestion
 * stamp from {@link MiniBatchLines} ({@code stamped}). Events wait here until a watermark passes
 * their stamp: by then every line ingested before them has left the customer stage, wherever its
 * batch was. They then leave sorted by stamp, as {@code Row(shard, [merchant, payload, ...])},
 * at most {@code size} a batch: each merchant's events in the order they were ingested. Events
 * still waiting at a checkpoint are kept in operator state.
 */
public final class MerchantBatches extends AbstractStreamOperator<Row>
        implements OneInputStreamOperator<String[], Row>, BoundedOneInput {

    private static final long serialVersionUID = 1L;

    private final int shards;
    private final int size;
    private transient List<Waiting> waiting;
    private transient ListState<String[]> waitingState;

    public MerchantBatches(int shards, int size) {
        if (shards < 1 || size < 1) {
            throw new IllegalArgumentException("shards and size must be positive");
        }
        this.shards = shards;
        this.size = size;
    }

    /** One event waiting for the watermark. */
    private static final class Waiting {
        final long stamp;
        final String merchant;
        final String payload;

        Waiting(long stamp, String merchant, String payload) {
            this.stamp = stamp;
            this.merchant = merchant;
            this.payload = payload;
        }
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        ListStateDescriptor<String[]> descriptor =
                new ListStateDescriptor<>("waiting-events", BasicArrayTypeInfo.STRING_ARRAY_TYPE_INFO);
        waitingState = context.getOperatorStateStore().getListState(descriptor);
        waiting = new ArrayList<>();
        for (String[] entry : waitingState.get()) {
            waiting.add(new Waiting(Long.parseLong(entry[1]), entry[0], entry[2]));
        }
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        List<String[]> entries = new ArrayList<>(waiting.size());
        for (Waiting event : waiting) {
            entries.add(new String[] {event.merchant, Long.toString(event.stamp), event.payload});
        }
        waitingState.update(entries);
    }

    @Override
    public void processElement(StreamRecord<String[]> record) {
        String[] triples = record.getValue();
        for (int index = 0; index + 2 < triples.length; index += 3) {
            waiting.add(new Waiting(Long.parseLong(triples[index + 1]), triples[index], triples[index + 2]));
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        release(mark.getTimestamp());
        super.processWatermark(mark);
    }

    @Override
    public void endInput() {
        release(Long.MAX_VALUE);
    }

    @Override
    public void finish() throws Exception {
        release(Long.MAX_VALUE);
        super.finish();
    }

    /** Emit, in stamp order, every waiting event stamped at or below {@code watermark}. */
    private void release(long watermark) {
        if (waiting.isEmpty()) {
            return;
        }
        waiting.sort(Comparator.comparingLong(event -> event.stamp)); // stable: equal stamps keep arrival order
        int released = 0;
        List<List<String>> batches = new ArrayList<>(shards);
        for (int shard = 0; shard < shards; shard++) {
            batches.add(new ArrayList<>());
        }
        for (Waiting event : waiting) {
            if (event.stamp > watermark) {
                break;
            }
            int shard = MiniBatchLines.shardOf(event.merchant, shards);
            List<String> batch = batches.get(shard);
            batch.add(event.merchant);
            batch.add(event.payload);
            if (batch.size() >= 2 * size) {
                emit(shard, batch);
            }
            released++;
        }
        for (int shard = 0; shard < shards; shard++) {
            if (!batches.get(shard).isEmpty()) {
                emit(shard, batches.get(shard));
            }
        }
        waiting.subList(0, released).clear();
    }

    private void emit(int shard, List<String> batch) {
        output.collect(new StreamRecord<>(Row.of(Integer.toString(shard), batch.toArray(new String[0]))));
        batch.clear();
    }
}
