package io.streamflow.flink;

import java.io.IOException;
import java.util.List;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.enumerate.DefaultFileFilter;
import org.apache.flink.connector.file.src.enumerate.FileEnumerator;
import org.apache.flink.connector.file.src.enumerate.NonSplittingRecursiveEnumerator;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;

/**
 * The files of a watched landing folder that the landing contract reads ({@code streamflow.core.landing}):
 * {@code *.jsonl} and {@code *.jsonl.gz}, in sub-folders too; names starting with {@code .} or
 * {@code _} are left out (Flink's default filter). The CLI reports the other files when the run ends.
 */
public final class JsonLinesFiles implements FileEnumerator.Provider {

    private static final long serialVersionUID = 1L;

    @Override
    public FileEnumerator create() {
        return new Enumerator();
    }

    /** Whether the landing contract reads a file of this name. */
    public static boolean isLanded(String name) {
        return name.endsWith(".jsonl") || name.endsWith(".jsonl.gz");
    }

    private static final class Enumerator extends NonSplittingRecursiveEnumerator {

        Enumerator() {
            super(new DefaultFileFilter());
        }

        @Override
        protected void convertToSourceSplits(FileStatus file, FileSystem fs, List<FileSourceSplit> target)
                throws IOException {
            if (isLanded(file.getPath().getName())) {
                super.convertToSourceSplits(file, fs, target);
            }
        }
    }
}
