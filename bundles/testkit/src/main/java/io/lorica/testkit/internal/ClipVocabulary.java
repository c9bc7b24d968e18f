package io.lorica.testkit.internal;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A small CLIP byte-level BPE vocabulary in the real format, learned deterministically from a built-in English corpus
 * of image prompts.
 *
 * <p>Ids as in CLIP: 0-255 the 256 characters of GPT-2's {@code bytes_to_unicode} in CLIP's order ({@code !} is 0),
 * 256-511 the same with {@code </w>} appended, then one token per merge in merge order, then
 * {@code <|startoftext|>} and {@code <|endoftext|>} (the highest id). Words are split as CLIP's tokenizer splits them
 * (lower-cased; letters, single digits, runs of other non-space characters, English contractions) and {@code </w>}
 * is attached to each word's last symbol. Training merges the most frequent adjacent pair (ties: the smaller pair by
 * string order; pairs whose result already is a token are skipped) until the requested number of merges is reached or
 * no pair is left.
 */
public final class ClipVocabulary {

    /** The start token. */
    public static final String BOS = "<|startoftext|>";
    /** The end token, also the padding and unknown token of the first tokenizer. */
    public static final String EOS = "<|endoftext|>";
    /** The end-of-word marker. */
    public static final String END_OF_WORD = "</w>";

    private static final Pattern SPLIT = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
    private static final Pattern WHITESPACE = Pattern.compile("\\s+");

    private static final String[] BYTE_CHARS_BY_BYTE = new String[256];
    private static final List<String> BYTE_CHARS = byteChars();

    private final List<String> tokens;
    private final List<String[]> merges;
    private final Map<String, Integer> ids;
    private final Map<String, Integer> ranks;

    private ClipVocabulary(List<String[]> merges) {
        List<String> all = new ArrayList<>(BYTE_CHARS);
        for (String c : BYTE_CHARS) {
            all.add(c + END_OF_WORD);
        }
        Map<String, Integer> rankOf = new HashMap<>();
        for (String[] merge : merges) {
            rankOf.put(merge[0] + " " + merge[1], rankOf.size());
            all.add(merge[0] + merge[1]);
        }
        all.add(BOS);
        all.add(EOS);
        Map<String, Integer> idOf = new LinkedHashMap<>();
        for (String token : all) {
            if (idOf.putIfAbsent(token, idOf.size()) != null) {
                throw new IllegalStateException("duplicate token " + token);
            }
        }
        this.tokens = Collections.unmodifiableList(all);
        this.merges = Collections.unmodifiableList(merges);
        this.ids = Collections.unmodifiableMap(idOf);
        this.ranks = rankOf;
    }

    /** Learns {@code mergeCount} merges (or as many as the corpus allows) from the built-in corpus. */
    public static ClipVocabulary train(int mergeCount) {
        if (mergeCount < 0) {
            throw new IllegalArgumentException("mergeCount must be >= 0, got " + mergeCount);
        }
        Map<String, Integer> frequencies = new LinkedHashMap<>();
        for (String line : Corpus.LINES) {
            for (String word : words(line)) {
                frequencies.merge(word, 1, Integer::sum);
            }
        }
        List<List<String>> words = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        frequencies.forEach((word, count) -> {
            words.add(symbols(word));
            counts.add(count);
        });
        Set<String> known = new HashSet<>(BYTE_CHARS);
        for (String c : BYTE_CHARS) {
            known.add(c + END_OF_WORD);
        }
        List<String[]> merges = new ArrayList<>();
        while (merges.size() < mergeCount) {
            Map<String, Integer> pairs = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                List<String> symbols = words.get(w);
                for (int i = 0; i + 1 < symbols.size(); i++) {
                    pairs.merge(symbols.get(i) + " " + symbols.get(i + 1), counts.get(w), Integer::sum);
                }
            }
            String best = null;
            int bestCount = 0;
            for (Map.Entry<String, Integer> entry : pairs.entrySet()) {
                String pair = entry.getKey();
                if (known.contains(pair.replace(" ", ""))) {
                    continue;
                }
                int count = entry.getValue();
                if (count > bestCount || (count == bestCount && comparePairs(pair, best) < 0)) {
                    best = pair;
                    bestCount = count;
                }
            }
            if (best == null) {
                break;
            }
            String[] merge = best.split(" ", 2);
            merges.add(merge);
            known.add(merge[0] + merge[1]);
            for (List<String> symbols : words) {
                apply(symbols, merge[0], merge[1]);
            }
        }
        return new ClipVocabulary(merges);
    }

    /** The 256 byte characters of GPT-2's {@code bytes_to_unicode}, in CLIP's vocabulary order. */
    public static List<String> byteCharacters() {
        return BYTE_CHARS;
    }

    /** All tokens in id order. */
    public List<String> tokens() {
        return tokens;
    }

    /** The merges in rank order, each a pair of symbols. */
    public List<String[]> merges() {
        return merges;
    }

    /** The number of tokens. */
    public int size() {
        return tokens.size();
    }

    /** The id of {@code token}, or -1. */
    public int id(String token) {
        return ids.getOrDefault(token, -1);
    }

    /** The id of {@link #BOS}. */
    public int bos() {
        return size() - 2;
    }

    /** The id of {@link #EOS}. */
    public int eos() {
        return size() - 1;
    }

    /** CLIP's tokenisation of {@code text} (no start or end token). */
    public List<Integer> encode(String text) {
        List<Integer> result = new ArrayList<>();
        for (String word : words(text)) {
            if (word.equals(BOS) || word.equals(EOS)) {
                result.add(ids.get(word));
                continue;
            }
            List<String> symbols = symbols(word);
            while (symbols.size() > 1) {
                int bestRank = Integer.MAX_VALUE;
                int at = -1;
                for (int i = 0; i + 1 < symbols.size(); i++) {
                    Integer rank = ranks.get(symbols.get(i) + " " + symbols.get(i + 1));
                    if (rank != null && rank < bestRank) {
                        bestRank = rank;
                        at = i;
                    }
                }
                if (at < 0) {
                    break;
                }
                apply(symbols, symbols.get(at), symbols.get(at + 1));
            }
            for (String symbol : symbols) {
                result.add(ids.get(symbol));
            }
        }
        return result;
    }

    /**
     * The {@code input_ids} of {@code text} as CLIPTokenizer with {@code padding="max_length"} and truncation gives
     * them: start token, at most {@code length - 2} tokens, end token, then {@code pad} up to {@code length}.
     */
    public int[] inputIds(String text, int length, int pad) {
        List<Integer> body = encode(text);
        int[] result = new int[length];
        Arrays.fill(result, pad);
        result[0] = bos();
        int n = Math.min(body.size(), length - 2);
        for (int i = 0; i < n; i++) {
            result[1 + i] = body.get(i);
        }
        result[1 + n] = eos();
        return result;
    }

    /** {@code merges.txt}: {@code #version: 0.2}, then one merge per line. */
    public String mergesText() {
        StringBuilder text = new StringBuilder("#version: 0.2\n");
        for (String[] merge : merges) {
            text.append(merge[0]).append(' ').append(merge[1]).append('\n');
        }
        return text.toString();
    }

    /** {@code vocab.json}'s content: token to id, in id order. */
    public Map<String, Integer> vocabulary() {
        return ids;
    }

    /** CLIP's pre-tokenisation: cleaned, lower-cased, split into words. */
    static List<String> words(String text) {
        String cleaned = WHITESPACE.matcher(text.strip()).replaceAll(" ").toLowerCase(Locale.ROOT);
        List<String> words = new ArrayList<>();
        Matcher matcher = SPLIT.matcher(cleaned);
        while (matcher.find()) {
            words.add(matcher.group());
        }
        return words;
    }

    /** The byte characters of {@code word}'s UTF-8 bytes, {@code </w>} attached to the last. */
    private static List<String> symbols(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        List<String> symbols = new ArrayList<>(bytes.length);
        for (byte b : bytes) {
            symbols.add(BYTE_CHARS_BY_BYTE[b & 0xFF]);
        }
        int last = symbols.size() - 1;
        symbols.set(last, symbols.get(last) + END_OF_WORD);
        return symbols;
    }

    /** Merges every non-overlapping occurrence of {@code (first, second)}, left to right. */
    private static void apply(List<String> symbols, String first, String second) {
        List<String> merged = new ArrayList<>(symbols.size());
        int i = 0;
        while (i < symbols.size()) {
            if (i + 1 < symbols.size() && symbols.get(i).equals(first) && symbols.get(i + 1).equals(second)) {
                merged.add(first + second);
                i += 2;
            } else {
                merged.add(symbols.get(i));
                i++;
            }
        }
        symbols.clear();
        symbols.addAll(merged);
    }

    private static int comparePairs(String a, String b) {
        if (b == null) {
            return -1;
        }
        return a.compareTo(b);
    }

    /** GPT-2's {@code bytes_to_unicode}: printable bytes map to themselves, the others to 256 + n. */
    private static List<String> byteChars() {
        List<Integer> bs = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) {
            bs.add(b);
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            bs.add(b);
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            bs.add(b);
        }
        List<Integer> cs = new ArrayList<>(bs);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (!bs.contains(b)) {
                bs.add(b);
                cs.add(256 + n);
                n++;
            }
        }
        List<String> chars = new ArrayList<>(256);
        for (int i = 0; i < 256; i++) {
            String c = new String(Character.toChars(cs.get(i)));
            chars.add(c);
            BYTE_CHARS_BY_BYTE[bs.get(i)] = c;
        }
        return Collections.unmodifiableList(chars);
    }
}
