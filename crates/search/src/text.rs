//! Text analysis shared by both backends: folding, typo tolerance,
//! highlighting and the matching suggestions rely on.
//!
//! The analyzer is the one the Elasticsearch mapping calls `folded`: split on
//! non-alphanumerics, lowercase, fold accents to ASCII.

use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer};

/// The tokenizer name the tantivy schema registers.
pub const FOLDED: &str = "folded";

/// The folding analyzer.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// A token and where it came from in the original text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub from: usize,
    pub to: usize,
}

thread_local! {
    static ANALYZER: std::cell::RefCell<TextAnalyzer> = std::cell::RefCell::new(analyzer());
}

/// Folded tokens of `text`.
pub fn tokens(text: &str) -> Vec<Token> {
    ANALYZER.with_borrow_mut(|analyzer| {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            out.push(Token {
                text: t.text.clone(),
                from: t.offset_from,
                to: t.offset_to,
            });
        }
        out
    })
}

/// Folded token texts of `text`.
pub fn terms(text: &str) -> Vec<String> {
    tokens(text).into_iter().map(|t| t.text).collect()
}

/// Edits a term of this length may be off by and still match, as
/// Elasticsearch's `fuzziness: AUTO` (0 up to 2 characters, 1 up to 5, then 2).
pub fn allowed_edits(term: &str) -> u8 {
    match term.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

/// Damerau-Levenshtein (optimal string alignment) distance, or `None` when it
/// exceeds `max`.
pub fn edit_distance(a: &str, b: &str, max: u8) -> Option<u8> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let max = usize::from(max);
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        let mut row_min = usize::MAX;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
    }
    let v = d[a.len() * w + b.len()];
    (v <= max).then_some(v as u8)
}

/// How a query term matched a token, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TermMatch {
    Exact,
    Prefix,
    Fuzzy,
}

/// Does query term `q` match `token`? The last term of a query also matches
/// as a prefix.
pub fn term_matches(q: &str, token: &str, is_last: bool) -> Option<TermMatch> {
    if q == token {
        return Some(TermMatch::Exact);
    }
    if is_last && token.starts_with(q) {
        return Some(TermMatch::Prefix);
    }
    let edits = allowed_edits(q);
    if edits > 0 && edit_distance(q, token, edits).is_some() {
        return Some(TermMatch::Fuzzy);
    }
    None
}

/// Does every query term match some token of `text`? Returns the worst
/// match kind when it does.
pub fn matches_all(query_terms: &[String], text: &str) -> Option<TermMatch> {
    let toks = terms(text);
    let mut worst = TermMatch::Exact;
    for (i, q) in query_terms.iter().enumerate() {
        let last = i + 1 == query_terms.len();
        let best = toks.iter().filter_map(|t| term_matches(q, t, last)).min()?;
        worst = worst.max(best);
    }
    Some(worst)
}

/// `text`, HTML-escaped, with the tokens any query term matches wrapped in
/// `<em>`; `None` when nothing matches.
pub fn highlight(query_terms: &[String], text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    let mut any = false;
    for tok in tokens(text) {
        let hit = query_terms
            .iter()
            .enumerate()
            .any(|(i, q)| term_matches(q, &tok.text, i + 1 == query_terms.len()).is_some());
        if hit {
            escape_into(&mut out, &text[at..tok.from]);
            out.push_str("<em>");
            escape_into(&mut out, &text[tok.from..tok.to]);
            out.push_str("</em>");
            at = tok.to;
            any = true;
        }
    }
    escape_into(&mut out, &text[at..]);
    any.then_some(out)
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_lowercases_and_strips_accents() {
        assert_eq!(terms("Beyoncé – Zürich!"), ["beyonce", "zurich"]);
    }

    #[test]
    fn typos_within_the_allowance_match() {
        assert_eq!(edit_distance("metallica", "metalica", 2), Some(1));
        assert_eq!(edit_distance("teh", "the", 1), Some(1));
        assert_eq!(edit_distance("abc", "xyz", 1), None);
        assert_eq!(term_matches("adel", "adele", false), Some(TermMatch::Fuzzy));
        assert_eq!(term_matches("ad", "adele", true), Some(TermMatch::Prefix));
        assert_eq!(term_matches("ad", "adele", false), None);
    }

    #[test]
    fn highlights_escape_and_mark_matches() {
        let q = terms("rolling ston");
        assert_eq!(
            highlight(&q, "The Rolling <Stones>").as_deref(),
            Some("The <em>Rolling</em> &lt;<em>Stones</em>&gt;")
        );
        assert_eq!(highlight(&q, "Jazz"), None);
    }
}
