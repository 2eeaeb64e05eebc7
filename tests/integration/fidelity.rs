//! Text as the page shows it, through the whole pipeline (upload, planner, chunk workers,
//! merge), word for word, on small committed fixtures (`tests/fixtures/corpus/`, whose
//! README says how each was made): one per class of PDF the extractor decodes.
//!
//! The expected words are the text the fixture was made from (`expected/`), in reading order,
//! not another extractor's output.

use jobcast_shared::ids::UserId;
use jobcast_shared::job::JobStatus;
use jobcast_shared::protocol::ServerMessage;
use jobcast_shared::result::JobResult;

use crate::helpers::{Stack, user};
use crate::pipeline::{fetch_result, start_job, watch};

macro_rules! fixture {
    ($name:literal) => {
        ($name, include_bytes!(concat!("../fixtures/corpus/", $name, ".pdf")).as_slice())
    };
}

macro_rules! expected {
    ($name:literal) => {
        include_str!(concat!("../fixtures/corpus/expected/", $name, ".txt"))
    };
}

/// Words in reading order: lowercased runs of letters, marks and digits, each CJK character a
/// word of its own (CJK text has no spaces to split at).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let cjk = matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}');
        if cjk || !c.is_alphanumeric() && !is_mark(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if cjk {
                out.push(c.to_string());
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Combining marks (Hebrew points, Arabic harakat, Latin accents) belong to their word.
fn is_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{0591}'..='\u{05C7}' | '\u{064B}'..='\u{065F}' | '\u{0670}')
}

/// Runs `bytes` through the stack as `owner`; the completed job's result and text.
async fn extract(stack: &Stack, owner: &UserId, name: &str, bytes: &[u8]) -> (JobResult, String) {
    let mut client = stack.connect(owner).await;
    let job = start_job(stack, owner, &mut client, &format!("{name}.pdf"), bytes).await;
    let (_, done) = watch(&mut client, &job).await;
    assert!(matches!(done, ServerMessage::JobCompleted { status: JobStatus::Completed, .. }), "{name}: {done:?}");
    let result = fetch_result(stack, owner, &job).await;
    client.close().await;
    result
}

/// The first place two word sequences differ, for a failure message a person can act on.
fn first_difference(expected: &[String], got: &[String]) -> String {
    let at = expected.iter().zip(got).position(|(e, g)| e != g).unwrap_or(expected.len().min(got.len()));
    let window =
        |words: &[String]| words.iter().skip(at.saturating_sub(3)).take(8).cloned().collect::<Vec<_>>().join(" ");
    format!(
        "word {at} of {} expected / {} got: expected «{}», got «{}»",
        expected.len(),
        got.len(),
        window(expected),
        window(got)
    )
}

async fn assert_word_for_word(
    stack: &Stack,
    owner: &UserId,
    class: &str,
    (name, bytes): (&str, &[u8]),
    expected: &str,
) {
    let (result, text) = extract(stack, owner, name, bytes).await;
    let (expected, got) = (words(expected), words(&text));
    assert!(expected.len() >= 20, "{name}: the fixture must hold real text");
    assert!(expected == got, "{class} ({name}): {}", first_difference(&expected, &got));
    assert_eq!(result.metadata.recovered, None, "{name} is an intact file");
}

#[tokio::test]
async fn a_type1_font_with_differences_and_words_spaced_by_tj_offsets_reads_word_for_word() {
    // No space characters at all: words apart only by TJ displacements; OT1 codes for the
    // ligatures and quotes, named in Differences.
    let stack = Stack::from_env().await;
    let owner = user("fidelity-tj");
    let class = "Type 1 font with Differences, spacing from TJ";
    assert_word_for_word(
        &stack,
        &owner,
        class,
        fixture!("handmade-tj-differences"),
        expected!("handmade-tj-differences"),
    )
    .await;
}

#[tokio::test]
async fn type0_fonts_with_tounicode_cmaps_read_word_for_word_ligatures_and_cjk_included() {
    // Chromium's Identity-H CID fonts: two-byte codes, text only through ToUnicode (bfchar and
    // bfrange), ligature glyphs mapped to two letters or to U+FB01.
    let stack = Stack::from_env().await;
    let owner = user("fidelity-cid");
    for (class, fixture, expected) in [
        ("ToUnicode CID font, Latin ligatures", fixture!("chromium-ligatures"), expected!("chromium-ligatures")),
        ("ToUnicode CID font, Chinese", fixture!("chromium-cjk"), expected!("chromium-cjk")),
        ("ToUnicode CID font, two columns", fixture!("chromium-two-column"), expected!("chromium-two-column")),
    ] {
        assert_word_for_word(&stack, &owner, class, fixture, expected).await;
    }
}

#[tokio::test]
async fn right_to_left_text_reads_in_logical_order_word_for_word() {
    // Drawn in visual order (left to right), shaped Arabic as presentation forms: read back in
    // the order it is typed, as letters, lam-alef as lam then alef, numbers left to right.
    let stack = Stack::from_env().await;
    let owner = user("fidelity-rtl");
    for (class, fixture, expected) in [
        ("right to left, Arabic", fixture!("chromium-arabic"), expected!("chromium-arabic")),
        ("right to left, Hebrew", fixture!("chromium-hebrew"), expected!("chromium-hebrew")),
    ] {
        assert_word_for_word(&stack, &owner, class, fixture, expected).await;
    }
}

#[tokio::test]
async fn damaged_files_are_read_whole_and_their_result_says_they_were_recovered() {
    let stack = Stack::from_env().await;
    let owner = user("fidelity-broken");
    for ((name, bytes), expected, what) in [
        (fixture!("broken-xref"), expected!("chromium-ligatures"), "cross-reference"),
        (fixture!("broken-pages"), expected!("chromium-four-pages"), "page tree"),
    ] {
        let (result, text) = extract(&stack, &owner, name, bytes).await;
        let (expected, got) = (words(expected), words(&text));
        assert!(expected == got, "{name}: {}", first_difference(&expected, &got));
        let recovered = result.metadata.recovered.unwrap_or_default();
        assert!(recovered.contains(what), "{name}: the result should say its {what} was recovered: {recovered:?}");
    }
}

#[tokio::test]
async fn filled_in_form_fields_are_read_with_the_page() {
    // The values live in the widgets' appearance streams, not in the page's content.
    let stack = Stack::from_env().await;
    let owner = user("fidelity-form");
    let (name, bytes) = fixture!("handmade-form");
    let (_, text) = extract(&stack, &owner, name, bytes).await;
    let mut got = words(&text);
    // Fields are read after the page's own text; pdftotext (the reference) places them by
    // position, so the two agree on the words, not on their order.
    let mut expected = words(include_str!("../fixtures/corpus/handmade-form.txt"));
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    for value in ["Margaret Okonkwo-Byrne", "14 Gull Lane, Westhaven", "Upper terrace, near the orchard"] {
        assert!(text.contains(value), "the field value {value:?} is missing from {text:?}");
    }
}

#[test]
fn words_split_cjk_by_character_and_keep_marks() {
    assert_eq!(words("Ünïcode café, 城市 e\u{301}!"), ["ünïcode", "café", "城", "市", "e\u{301}"]);
}
