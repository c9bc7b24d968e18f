package io.lorica.pipelines.text;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The CLIP byte-level BPE tokenizer of Stable Diffusion: the same ids as Hugging Face's {@code CLIPTokenizer} /
 * {@code CLIPTokenizerFast} (the {@code tokenizers} pipeline, which is what transformers 5 runs for
 * {@code CLIPTokenizer} and what transformers 4 converts the slow tokenizer to) on the same {@code vocab.json} and
 * {@code merges.txt}.
 *
 * <p>Tokenisation of a text, step by step:
 * <ol>
 *   <li>added tokens are split out and map straight to their ids, leftmost-longest: the special tokens ({@code bos},
 *       {@code eos}, {@code unk}, {@code pad}) and the entries of {@code added_tokens_decoder}. Tokens that are not
 *       {@code normalized} (special tokens by default) are matched on the raw text, the others on the normalised
 *       text; {@code lstrip}/{@code rstrip} remove the whitespace beside a match. Because the pad token is a special
 *       token, SDXL's second tokenizer (pad token {@code !}) turns {@code "!!!"} into three {@code !} ids where the
 *       first tokenizer has the one token {@code !!!</w>};</li>
 *   <li>every other piece is normalised: NFC, each run of whitespace ({@code \s+}, Unicode White_Space) becomes one
 *       space, then each code point is lower-cased (full case mapping, without the context-dependent final sigma);</li>
 *   <li>CLIP's pattern {@code <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+}
 *       splits the piece into words, whitespace is dropped;</li>
 *   <li>each word's UTF-8 bytes are mapped to GPT-2's printable {@code bytes_to_unicode} characters and merged by BPE
 *       in merge-rank order, the last symbol carrying the {@code </w>} end-of-word suffix;</li>
 *   <li>tokens map to their vocabulary ids, unknown ones to the unk id.</li>
 * </ol>
 * This differs from transformers 4's slow {@code CLIPTokenizer} without {@code ftfy} (its {@code BasicTokenizer}
 * fallback), which also drops control and format characters such as U+200D ZERO WIDTH JOINER and puts spaces around
 * CJK ideographs; the fast tokenizer and transformers 5 do neither, and neither does this class. As in transformers, at
 * most {@value #MAX_MERGES} merges are used (CLIP's 49152-entry BPE vocabulary less 256 byte symbols and 2 special
 * tokens). An unpaired UTF-16 surrogate in the text (which a Python string handed to the tokenizer cannot hold) is
 * read as U+FFFD.
 *
 * <p>Instances are immutable apart from a bounded, synchronised BPE cache and are safe for concurrent use.
 */
public final class ClipTokenizer {

    /** The model length of Stable Diffusion's CLIP text encoders, used when the tokenizer config has none. */
    public static final int DEFAULT_MAX_LENGTH = 77;

    /** The most merges read from {@code merges.txt}, as in transformers: {@code 49152 - 256 - 2}. */
    public static final int MAX_MERGES = 49152 - 256 - 2;

    /** CLIP's beginning-of-text token. */
    public static final String START_OF_TEXT = "<|startoftext|>";

    /** CLIP's end-of-text token, also its unknown token and (for SD 1.5) its padding token. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    private static final String END_OF_WORD = "</w>";
    private static final int CACHE_CAPACITY = 16_384;
    /** Longest word whose BPE result is cached; longer ones are rare and would only crowd the cache. */
    private static final int CACHE_MAX_WORD_LENGTH = 64;
    private static final int MAX_SUPPORTED_LENGTH = 1 << 20;

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final Pattern WHITESPACE_RUN = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern WORD = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.UNICODE_CHARACTER_CLASS);

    private static final char[] BYTE_TO_UNICODE = bytesToUnicode();
    private static final int[] UNICODE_TO_BYTE = unicodeToBytes();

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final Map<String, Integer> mergeRanks;
    private final int maxLength;
    private final int bosId;
    private final int eosId;
    private final int unkId;
    private final int padId;
    /** Added tokens matched on the raw text, longest first. */
    private final List<AddedToken> rawAddedTokens;
    /** Added tokens matched on the normalised text, longest first. */
    private final List<AddedToken> normalizedAddedTokens;
    private final Map<String, Integer> addedTokenIds;
    private final boolean[] specialIds;
    private final Map<String, String> bpeCache = new LruCache(CACHE_CAPACITY);

    /**
     * A token split out of the text before tokenisation (an entry of {@code added_tokens_decoder} or a special token).
     *
     * @param content the literal text of the token
     * @param id its id
     * @param lstrip whether whitespace on its left is removed
     * @param rstrip whether whitespace on its right is removed
     * @param normalized whether it is matched on the normalised text rather than the raw text
     * @param special whether it is a special token (skipped by {@link #decode(int[])})
     */
    private record AddedToken(String content, int id, boolean lstrip, boolean rstrip, boolean normalized, boolean special) {
    }

    /** A special token as the configuration declares it, before its id is known. */
    private record TokenSpec(String content, boolean lstrip, boolean rstrip, boolean normalized) {

        static TokenSpec plain(String content) {
            return new TokenSpec(content, false, false, false);
        }
    }

    private ClipTokenizer(Map<String, Integer> vocab, List<String[]> merges, int maxLength, List<TokenSpec> specials,
            List<AddedToken> declared, String source) {
        if (maxLength < 2 || maxLength > MAX_SUPPORTED_LENGTH) {
            throw new IllegalArgumentException(source + ": model_max_length " + maxLength
                    + " is not supported: expected an integer between 2 and " + MAX_SUPPORTED_LENGTH);
        }
        if (vocab.isEmpty()) {
            throw new IllegalArgumentException(source + ": the vocabulary is empty: expected token -> id entries");
        }
        int maxId = -1;
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            Integer id = e.getValue();
            if (e.getKey() == null || id == null || id < 0) {
                throw new IllegalArgumentException(source + ": vocabulary entry '" + e.getKey() + "' -> " + id
                        + " is not valid: expected a token mapped to a non-negative id");
            }
            maxId = Math.max(maxId, id);
        }
        Map<String, Integer> ranks = new HashMap<>();
        for (int rank = 0; rank < merges.size() && rank < MAX_MERGES; rank++) {
            String[] pair = merges.get(rank);
            if (pair.length == 2) {
                ranks.putIfAbsent(pair[0] + ' ' + pair[1], rank);
            }
        }

        // The declared added tokens first, then the special tokens that they do not already declare.
        Map<String, AddedToken> added = new LinkedHashMap<>();
        for (AddedToken token : declared) {
            added.putIfAbsent(token.content(), token);
            maxId = Math.max(maxId, token.id());
        }
        String[] roles = {"bos_token", "eos_token", "unk_token", "pad_token"};
        int[] ids = new int[roles.length];
        for (int i = 0; i < roles.length; i++) {
            TokenSpec spec = specials.get(i);
            AddedToken token = added.get(spec.content());
            if (token == null) {
                Integer id = vocab.get(spec.content());
                if (id == null) {
                    throw new IllegalArgumentException(source + ": " + roles[i] + " '" + spec.content()
                            + "' is not in the vocabulary: expected a token of vocab.json or added_tokens_decoder");
                }
                token = new AddedToken(spec.content(), id, spec.lstrip(), spec.rstrip(), spec.normalized(), true);
                added.put(spec.content(), token);
            }
            ids[i] = token.id();
        }

        this.vocab = Map.copyOf(vocab);
        this.idToToken = new String[maxId + 1];
        vocab.forEach((token, id) -> idToToken[id] = token);
        this.specialIds = new boolean[maxId + 1];
        List<AddedToken> raw = new ArrayList<>();
        List<AddedToken> normalized = new ArrayList<>();
        Map<String, Integer> addedIds = new HashMap<>();
        for (AddedToken token : added.values()) {
            idToToken[token.id()] = token.content();
            addedIds.put(token.content(), token.id());
            if (token.special()) {
                specialIds[token.id()] = true;
            }
            if (!token.content().isEmpty()) {
                (token.normalized() ? normalized : raw).add(token);
            }
        }
        for (int id : ids) {
            specialIds[id] = true;
        }
        Comparator<AddedToken> longestFirst = Comparator.comparingInt((AddedToken token) -> token.content().length()).reversed();
        raw.sort(longestFirst);
        normalized.sort(longestFirst);
        this.rawAddedTokens = List.copyOf(raw);
        this.normalizedAddedTokens = List.copyOf(normalized);
        this.addedTokenIds = Map.copyOf(addedIds);
        this.mergeRanks = Map.copyOf(ranks);
        this.maxLength = maxLength;
        this.bosId = ids[0];
        this.eosId = ids[1];
        this.unkId = ids[2];
        this.padId = ids[3];
    }

    /**
     * Loads the tokenizer of a Diffusers export ({@code tokenizer/} or {@code tokenizer_2/}).
     *
     * <p>{@code vocab.json} (token to id) and {@code merges.txt} (a {@code #version} header line, then one
     * {@code "a b"} merge per line in rank order) are required. {@code tokenizer_config.json} and
     * {@code special_tokens_map.json} are optional; the latter overrides the former, as in transformers. They give
     * {@code model_max_length} (default {@value #DEFAULT_MAX_LENGTH}), {@code bos_token}, {@code eos_token},
     * {@code unk_token} (defaults {@code <|startoftext|>}, {@code <|endoftext|>}, {@code <|endoftext|>}),
     * {@code pad_token} (default: the eos token) and {@code added_tokens_decoder}; a token is either a string or an
     * object with a {@code content} field (and optional {@code lstrip}, {@code rstrip}, {@code normalized}).
     *
     * @param folder the tokenizer folder
     * @return the tokenizer
     * @throws IllegalArgumentException when the folder or a required file is missing, or a file is not valid; the
     *         message names the file
     * @throws UncheckedIOException when a file cannot be read
     */
    public static ClipTokenizer load(Path folder) {
        Objects.requireNonNull(folder, "folder");
        if (!Files.isDirectory(folder)) {
            throw new IllegalArgumentException("CLIP tokenizer folder " + folder
                    + " does not exist or is not a directory: expected a folder with vocab.json and merges.txt");
        }
        Path vocabFile = requireFile(folder, "vocab.json");
        Path mergesFile = requireFile(folder, "merges.txt");
        Map<String, Integer> vocab = readVocab(vocabFile);
        List<String[]> merges = readMerges(mergesFile);

        Map<String, JsonNode> settings = new HashMap<>();
        Map<String, Path> settingFiles = new HashMap<>();
        Path configFile = folder.resolve("tokenizer_config.json");
        JsonNode config = Files.isRegularFile(configFile) ? readJsonObject(configFile) : null;
        if (config != null) {
            config.properties().forEach(e -> {
                settings.put(e.getKey(), e.getValue());
                settingFiles.put(e.getKey(), configFile);
            });
        }
        Path mapFile = folder.resolve("special_tokens_map.json");
        if (Files.isRegularFile(mapFile)) {
            readJsonObject(mapFile).properties().forEach(e -> {
                if (!e.getValue().isNull()) {
                    settings.put(e.getKey(), e.getValue());
                    settingFiles.put(e.getKey(), mapFile);
                }
            });
        }

        int maxLength = DEFAULT_MAX_LENGTH;
        JsonNode lengthNode = settings.get("model_max_length");
        if (lengthNode != null && !lengthNode.isNull()) {
            if (!lengthNode.isIntegralNumber() || !lengthNode.canConvertToInt()) {
                throw new IllegalArgumentException(settingFiles.get("model_max_length") + ": model_max_length "
                        + lengthNode + " is not valid: expected an integer between 2 and " + MAX_SUPPORTED_LENGTH);
            }
            maxLength = lengthNode.intValue();
        }
        TokenSpec bos = tokenSpec(settings, settingFiles, "bos_token", START_OF_TEXT);
        TokenSpec eos = tokenSpec(settings, settingFiles, "eos_token", END_OF_TEXT);
        TokenSpec unk = tokenSpec(settings, settingFiles, "unk_token", END_OF_TEXT);
        TokenSpec pad = tokenSpec(settings, settingFiles, "pad_token", eos.content());
        List<AddedToken> declared = config == null ? List.of() : addedTokensDecoder(config, configFile);
        return new ClipTokenizer(vocab, merges, maxLength, List.of(bos, eos, unk, pad), declared, folder.toString());
    }

    /**
     * A tokenizer from an in-memory vocabulary, for tests and generators, with CLIP's special tokens
     * ({@code <|startoftext|>} as bos, {@code <|endoftext|>} as eos and unk).
     *
     * @param vocab token to id, as in {@code vocab.json}
     * @param merges the merges in rank order, each {@code "a b"}, without the {@code #version} header
     * @param maxLength the padded length ({@code model_max_length}), at least 2
     * @param padToken the padding token: {@code <|endoftext|>} for SD 1.5, {@code !} for SDXL's second tokenizer
     * @return the tokenizer
     * @throws IllegalArgumentException when a merge is not two symbols, a special token or the pad token is not in
     *         the vocabulary, or {@code maxLength} is below 2
     */
    public static ClipTokenizer of(Map<String, Integer> vocab, List<String> merges, int maxLength, String padToken) {
        Objects.requireNonNull(vocab, "vocab");
        Objects.requireNonNull(merges, "merges");
        Objects.requireNonNull(padToken, "padToken");
        List<String[]> pairs = new ArrayList<>(merges.size());
        for (int i = 0; i < merges.size(); i++) {
            String line = Objects.requireNonNull(merges.get(i), "merge");
            String[] pair = splitWhitespace(line);
            if (pair.length != 2) {
                throw new IllegalArgumentException("merge " + i + " '" + line
                        + "' is not valid: expected two symbols separated by a space");
            }
            pairs.add(pair);
        }
        List<TokenSpec> specials = List.of(TokenSpec.plain(START_OF_TEXT), TokenSpec.plain(END_OF_TEXT),
                TokenSpec.plain(END_OF_TEXT), TokenSpec.plain(padToken));
        return new ClipTokenizer(new HashMap<>(vocab), pairs, maxLength, specials, List.of(), "in-memory CLIP tokenizer");
    }

    /**
     * The ids of a text: bos, the tokens, eos; neither truncated nor padded.
     *
     * @param text the prompt
     * @return the ids
     */
    public int[] encode(String text) {
        int[] tokens = tokenIds(text);
        int[] out = new int[tokens.length + 2];
        out[0] = bosId;
        System.arraycopy(tokens, 0, out, 1, tokens.length);
        out[out.length - 1] = eosId;
        return out;
    }

    /**
     * The ids of a text as Diffusers passes them to the text encoder ({@code padding="max_length",
     * max_length=tokenizer.model_max_length, truncation=True}): bos, at most {@code maxLength() - 2} tokens, eos, then
     * the pad id up to exactly {@link #maxLength()} ids.
     *
     * @param text the prompt
     * @return exactly {@link #maxLength()} ids
     */
    public int[] encodePadded(String text) {
        int[] tokens = tokenIds(text);
        int[] out = new int[maxLength];
        Arrays.fill(out, padId);
        out[0] = bosId;
        int kept = Math.min(tokens.length, maxLength - 2);
        System.arraycopy(tokens, 0, out, 1, kept);
        out[kept + 1] = eosId;
        return out;
    }

    /**
     * The number of tokens of a text without bos and eos; more than {@code maxLength() - 2} means that
     * {@link #encodePadded(String)} truncates it.
     *
     * @param text the prompt
     * @return the token count
     */
    public int tokenCount(String text) {
        return tokenize(text).size();
    }

    /**
     * The BPE tokens of a text, without bos and eos; added tokens appear as their content.
     *
     * @param text the prompt
     * @return the tokens, such as {@code [a</w>, photo</w>]}
     */
    public List<String> tokenize(String text) {
        Objects.requireNonNull(text, "text");
        List<String> tokens = new ArrayList<>();
        for (Object piece : splitOn(rawAddedTokens, text)) {
            if (piece instanceof AddedToken added) {
                tokens.add(added.content());
                continue;
            }
            for (Object part : splitOn(normalizedAddedTokens, normalize((String) piece))) {
                if (part instanceof AddedToken added) {
                    tokens.add(added.content());
                } else {
                    bpeWords((String) part, tokens);
                }
            }
        }
        return tokens;
    }

    /**
     * Decodes ids back to text, skipping special tokens, as transformers' {@code decode(ids,
     * skip_special_tokens=True, clean_up_tokenization_spaces=False)}: each end of word becomes a space. Used to report
     * the truncated part of a prompt.
     *
     * @param ids token ids
     * @return the text; invalid UTF-8 becomes U+FFFD
     * @throws IllegalArgumentException when an id is not in the vocabulary
     */
    public String decode(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id < 0 || id >= idToToken.length || idToToken[id] == null) {
                throw new IllegalArgumentException("token id " + id + " is not valid: expected an id of the vocabulary (0 to "
                        + (idToToken.length - 1) + ")");
            }
            if (specialIds[id]) {
                continue;
            }
            String token = idToToken[id];
            for (int i = 0; i < token.length(); i++) {
                if (token.startsWith(END_OF_WORD, i)) {
                    bytes.write(' ');
                    i += END_OF_WORD.length() - 1;
                    continue;
                }
                char c = token.charAt(i);
                int b = c < UNICODE_TO_BYTE.length ? UNICODE_TO_BYTE[c] : -1;
                if (b >= 0) {
                    bytes.write(b);
                } else {
                    byte[] utf8 = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                    bytes.write(utf8, 0, utf8.length);
                }
            }
        }
        return new String(bytes.toByteArray(), StandardCharsets.UTF_8).strip();
    }

    /** @return the padded length, {@code model_max_length} (77 for Stable Diffusion) */
    public int maxLength() {
        return maxLength;
    }

    /** @return the id of the beginning-of-text token (49406 for CLIP) */
    public int bosId() {
        return bosId;
    }

    /** @return the id of the end-of-text token (49407 for CLIP) */
    public int eosId() {
        return eosId;
    }

    /** @return the padding id: the eos id for SD 1.5 and SDXL's first tokenizer, 0 ({@code !}) for SDXL's second */
    public int padId() {
        return padId;
    }

    /** @return the id of the unknown token (the eos id for CLIP) */
    public int unkId() {
        return unkId;
    }

    /** @return the number of entries of {@code vocab.json} (49408 for CLIP) */
    public int vocabSize() {
        return vocab.size();
    }

    /**
     * The position whose hidden state CLIP pools: the first eos id.
     *
     * @param ids ids as {@link #encodePadded(String)} returns them
     * @return the index of the first eos id, or {@code maxLength() - 1} when there is none
     */
    public int eosPosition(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == eosId) {
                return i;
            }
        }
        return maxLength - 1;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // tokenisation

    private int[] tokenIds(String text) {
        List<String> tokens = tokenize(text);
        int[] ids = new int[tokens.size()];
        for (int i = 0; i < ids.length; i++) {
            String token = tokens.get(i);
            Integer id = addedTokenIds.get(token);
            if (id == null) {
                id = vocab.get(token);
            }
            ids[i] = id == null ? unkId : id;
        }
        return ids;
    }

    /**
     * Splits a text on added tokens, leftmost first and the longest at a position, then removes the whitespace that
     * their lstrip/rstrip flags claim. The result holds {@link AddedToken}s and non-empty text pieces.
     */
    private static List<Object> splitOn(List<AddedToken> tokens, String text) {
        if (tokens.isEmpty()) {
            return List.of(text);
        }
        List<Object> pieces = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            AddedToken match = null;
            for (AddedToken token : tokens) {
                if (text.startsWith(token.content(), i)) {
                    match = token;
                    break;
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            int end = i;
            if (match.lstrip()) {
                while (end > start && isWhiteSpace(text.codePointBefore(end))) {
                    end -= Character.charCount(text.codePointBefore(end));
                }
            }
            if (end > start) {
                pieces.add(text.substring(start, end));
            }
            pieces.add(match);
            i += match.content().length();
            if (match.rstrip()) {
                while (i < text.length() && isWhiteSpace(text.codePointAt(i))) {
                    i += Character.charCount(text.codePointAt(i));
                }
            }
            start = i;
        }
        if (start < text.length()) {
            pieces.add(text.substring(start));
        }
        return pieces;
    }

    /**
     * The {@code tokenizers} normaliser of CLIP: NFC, {@code \s+} to one space, per-code-point lower case. Unpaired
     * surrogates become U+FFFD first.
     */
    static String normalize(String text) {
        String nfc = Normalizer.normalize(replaceUnpairedSurrogates(text), Normalizer.Form.NFC);
        String spaced = WHITESPACE_RUN.matcher(nfc).replaceAll(" ");
        StringBuilder out = new StringBuilder(spaced.length());
        for (int i = 0; i < spaced.length(); ) {
            int cp = spaced.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == 0x0130) {
                out.append("i\u0307"); // the one unconditional multi-character lower-case mapping (SpecialCasing)
            } else {
                out.appendCodePoint(Character.toLowerCase(cp));
            }
        }
        return out.toString();
    }

    private static String replaceUnpairedSurrogates(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean paired = Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1));
            if (paired) {
                if (out != null) {
                    out.append(c).append(text.charAt(i + 1));
                }
                i++;
            } else if (Character.isSurrogate(c)) {
                if (out == null) {
                    out = new StringBuilder(text.length()).append(text, 0, i);
                }
                out.append('\uFFFD');
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? text : out.toString();
    }

    /** Splits a normalised piece into words and appends their BPE tokens. */
    private void bpeWords(String normalized, List<String> out) {
        Matcher m = WORD.matcher(normalized);
        StringBuilder mapped = new StringBuilder();
        while (m.find()) {
            mapped.setLength(0);
            for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) {
                mapped.append(BYTE_TO_UNICODE[b & 0xff]);
            }
            String bpe = bpe(mapped.toString());
            int from = 0;
            for (int space = bpe.indexOf(' '); space >= 0; space = bpe.indexOf(' ', from)) {
                out.add(bpe.substring(from, space));
                from = space + 1;
            }
            out.add(bpe.substring(from));
        }
    }

    /**
     * Byte-pair encoding of one byte-mapped word: its final symbols separated by single spaces (the byte-mapped
     * alphabet has no space). Each round merges, left to right, every occurrence of the adjacent pair of lowest rank.
     */
    private String bpe(String word) {
        boolean cacheable = word.length() <= CACHE_MAX_WORD_LENGTH;
        if (cacheable) {
            String cached = bpeCache.get(word);
            if (cached != null) {
                return cached;
            }
        }
        List<String> symbols = new ArrayList<>(word.length());
        for (int i = 0; i < word.length() - 1; i++) {
            symbols.add(String.valueOf(word.charAt(i)));
        }
        symbols.add(word.charAt(word.length() - 1) + END_OF_WORD);
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            int best = -1;
            for (int i = 0; i < symbols.size() - 1; i++) {
                Integer rank = mergeRanks.get(symbols.get(i) + ' ' + symbols.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    best = i;
                }
            }
            if (best < 0) {
                break;
            }
            String first = symbols.get(best);
            String second = symbols.get(best + 1);
            List<String> merged = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i < symbols.size() - 1 && symbols.get(i).equals(first) && symbols.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i++;
                } else {
                    merged.add(symbols.get(i));
                }
            }
            symbols = merged;
        }
        String result = String.join(" ", symbols);
        if (cacheable) {
            bpeCache.put(word, result);
        }
        return result;
    }

    /** The Unicode White_Space property (what {@code \s} matches in Unicode mode). */
    private static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    /** Splits on runs of White_Space, without empty parts. */
    private static String[] splitWhitespace(String text) {
        List<String> parts = new ArrayList<>(2);
        int start = -1;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            if (isWhiteSpace(cp)) {
                if (start >= 0) {
                    parts.add(text.substring(start, i));
                    start = -1;
                }
            } else if (start < 0) {
                start = i;
            }
            i += Character.charCount(cp);
        }
        if (start >= 0) {
            parts.add(text.substring(start));
        }
        return parts.toArray(String[]::new);
    }

    /** GPT-2's {@code bytes_to_unicode}: printable bytes map to themselves, the others to U+0100 onwards. */
    private static char[] bytesToUnicode() {
        char[] table = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = (char) (printable ? b : 256 + n++);
        }
        return table;
    }

    private static int[] unicodeToBytes() {
        int[] inverse = new int[512];
        Arrays.fill(inverse, -1);
        for (int b = 0; b < 256; b++) {
            inverse[BYTE_TO_UNICODE[b]] = b;
        }
        return inverse;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // files

    private static Path requireFile(Path folder, String name) {
        Path file = folder.resolve(name);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("CLIP tokenizer folder " + folder + " has no " + name
                    + ": expected vocab.json and merges.txt of a Hugging Face CLIPTokenizer");
        }
        return file;
    }

    private static Map<String, Integer> readVocab(Path file) {
        JsonNode root = readJsonObject(file);
        Map<String, Integer> vocab = new HashMap<>(root.size() * 2);
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            JsonNode id = e.getValue();
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.intValue() < 0) {
                throw new IllegalArgumentException(file + ": token '" + e.getKey() + "' has id " + id
                        + ": expected a non-negative integer");
            }
            vocab.put(e.getKey(), id.intValue());
        }
        if (vocab.isEmpty()) {
            throw new IllegalArgumentException(file + " is empty: expected a JSON object of token -> id");
        }
        return vocab;
    }

    /** The merges: the file stripped and split into lines, the {@code #version} header skipped. */
    private static List<String[]> readMerges(Path file) {
        String content;
        try {
            content = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(Files.readAllBytes(file)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(file + " is not valid UTF-8: expected the BPE merges of a CLIP tokenizer", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        String[] lines = content.strip().split("\n", -1);
        if (!lines[0].startsWith("#version")) {
            throw new IllegalArgumentException(file + " does not start with a '#version' header line: "
                    + "expected the merges.txt of a Hugging Face CLIPTokenizer");
        }
        List<String[]> merges = new ArrayList<>(Math.min(lines.length, MAX_MERGES + 1));
        for (int i = 1; i < lines.length && merges.size() < MAX_MERGES; i++) {
            String[] pair = splitWhitespace(lines[i]);
            if (pair.length != 2) {
                throw new IllegalArgumentException(file + ": line " + (i + 1) + " '" + lines[i].strip()
                        + "' is not valid: expected two symbols separated by a space");
            }
            merges.add(pair);
        }
        return merges;
    }

    private static JsonNode readJsonObject(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(file + " is not a JSON object: expected an object at the top level");
        }
        return root;
    }

    private static TokenSpec tokenSpec(Map<String, JsonNode> settings, Map<String, Path> files, String key,
            String defaultContent) {
        JsonNode node = settings.get(key);
        if (node == null || node.isNull()) {
            return TokenSpec.plain(defaultContent);
        }
        if (node.isTextual()) {
            return TokenSpec.plain(node.textValue());
        }
        if (node.isObject() && node.path("content").isTextual()) {
            return new TokenSpec(node.get("content").textValue(), node.path("lstrip").asBoolean(false),
                    node.path("rstrip").asBoolean(false), node.path("normalized").asBoolean(false));
        }
        throw new IllegalArgumentException(files.get(key) + ": " + key + " " + node
                + " is not valid: expected a string or an object with a string 'content'");
    }

    private static List<AddedToken> addedTokensDecoder(JsonNode config, Path file) {
        JsonNode decoder = config.get("added_tokens_decoder");
        if (decoder == null || decoder.isNull()) {
            return List.of();
        }
        if (!decoder.isObject()) {
            throw new IllegalArgumentException(file + ": added_tokens_decoder is not valid: expected an object of id -> token");
        }
        List<AddedToken> declared = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : decoder.properties()) {
            int id;
            try {
                id = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                id = -1;
            }
            JsonNode token = e.getValue();
            if (id < 0 || !token.path("content").isTextual()) {
                throw new IllegalArgumentException(file + ": added_tokens_decoder entry '" + e.getKey()
                        + "' is not valid: expected a non-negative id mapped to an object with a string 'content'");
            }
            boolean special = token.path("special").asBoolean(false);
            declared.add(new AddedToken(token.get("content").textValue(), id, token.path("lstrip").asBoolean(false),
                    token.path("rstrip").asBoolean(false), token.path("normalized").asBoolean(!special), special));
        }
        return declared;
    }

    /** A small least-recently-used map, synchronised, for the BPE results of words. */
    private static final class LruCache extends LinkedHashMap<String, String> {

        private static final long serialVersionUID = 1L;
        private final int capacity;

        LruCache(int capacity) {
            super(capacity * 4 / 3 + 1, 0.75f, true);
            this.capacity = capacity;
        }

        @Override
        public synchronized String get(Object key) {
            return super.get(key);
        }

        @Override
        public synchronized String put(String key, String value) {
            return super.put(key, value);
        }

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> eldest) {
            return size() > capacity;
        }
    }
}
