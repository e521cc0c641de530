package io.streamflow.flink;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.reader.SimpleStreamFormat;
import org.apache.flink.connector.file.src.reader.StreamFormat;
import org.apache.flink.core.fs.FSDataInputStream;

/**
 * The lines of a landed JSON-lines file, split by the landing contract ({@code streamflow.core.landing.split_lines}).
 *
 * <p>A line ends at {@code \n} and one {@code \r} before it is dropped; a bare {@code \r} is part of
 * the line; a final {@code \n} starts no line. Flink's own text format splits at a bare {@code \r} too,
 * and decodes bytes it cannot read into U+FFFD; this one decodes nothing: each line leaves as
 * ISO-8859-1 text, one character per byte, so the scoring function hands the parser the exact bytes
 * that landed and the parser's strict UTF-8 decides ({@code bad_encoding}), as batch does. Flink
 * decompresses {@code .gz} files before this reader sees them.
 *
 * <p>With an origin (the stream's {@code --labels} files: {@code labels:<path>}), each line leaves
 * after it and a newline, the form {@code KafkaLines} gives a Kafka record: a raw line holds no
 * newline, so the first one ends the origin.
 */
public final class JsonLinesFormat extends SimpleStreamFormat<String> {

    private static final long serialVersionUID = 1L;

    private final String prefix;

    /** Lines as they landed. */
    public JsonLinesFormat() {
        this.prefix = "";
    }

    /** Lines after {@code origin}, which must hold no newline, and a newline. */
    public JsonLinesFormat(String origin) {
        if (origin.indexOf('\n') >= 0) {
            throw new IllegalArgumentException("an origin holds no newline");
        }
        this.prefix = origin + "\n";
    }

    @Override
    public StreamFormat.Reader<String> createReader(Configuration config, FSDataInputStream stream) {
        return new LineReader(stream, prefix);
    }

    @Override
    public TypeInformation<String> getProducedType() {
        return Types.STRING;
    }

    /** Reads lines from a stream through its own buffer (no per-byte calls). */
    public static final class LineReader implements StreamFormat.Reader<String> {

        private final InputStream input;
        private final String prefix;
        private final byte[] buffer = new byte[64 * 1024];
        private int position;
        private int limit;
        private byte[] line = new byte[1024];
        private int length;

        public LineReader(InputStream input) {
            this(input, "");
        }

        /** Lines after {@code prefix}. */
        public LineReader(InputStream input, String prefix) {
            this.input = input;
            this.prefix = prefix;
        }

        /** The next line, or {@code null} at the end of the input. */
        @Override
        public String read() throws IOException {
            length = 0;
            while (true) {
                if (position == limit) {
                    limit = Math.max(0, input.read(buffer, 0, buffer.length));
                    position = 0;
                    if (limit == 0) {
                        return length > 0 ? finish() : null;
                    }
                }
                int start = position;
                while (position < limit && buffer[position] != '\n') {
                    position++;
                }
                append(start, position - start);
                if (position < limit) {
                    position++;
                    return finish();
                }
            }
        }

        private void append(int start, int count) {
            if (length + count > line.length) {
                line = Arrays.copyOf(line, Math.max(2 * line.length, length + count));
            }
            System.arraycopy(buffer, start, line, length, count);
            length += count;
        }

        private String finish() {
            int end = length > 0 && line[length - 1] == '\r' ? length - 1 : length;
            String text = new String(line, 0, end, StandardCharsets.ISO_8859_1);
            return prefix.isEmpty() ? text : prefix + text;
        }

        @Override
        public void close() throws IOException {
            input.close();
        }
    }

    /** Each line of standard input as the reader splits it, as a JSON string of its bytes (the parity test reads them). */
    public static void main(String[] args) throws IOException {
        LineReader reader = new LineReader(System.in);
        StringBuilder out = new StringBuilder();
        for (String line = reader.read(); line != null; line = reader.read()) {
            out.setLength(0);
            out.append('"');
            for (int i = 0; i < line.length(); i++) {
                out.append(String.format("\\u%04x", (int) line.charAt(i)));
            }
            System.out.println(out.append('"'));
        }
        System.out.flush();
    }
}
