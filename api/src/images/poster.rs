//! Posters drawn from a name: a deterministic SVG (colours and a simple
//! geometric pattern seeded by a SHA-256 of the name and genre, the name
//! set in type, the kind and genre beneath). Nothing is fetched or stored:
//! the same name and genre always give the same bytes, so the answer is
//! generated at request time and cached by its ETag.

use sha2::{Digest, Sha256};

/// The poster's drawing size in CSS pixels (3:2, as the cards show it).
pub const WIDTH: u32 = 600;
pub const HEIGHT: u32 = 400;

/// What a poster shows.
#[derive(Debug, Clone, Copy)]
pub struct Poster<'a> {
    /// The event's title or the performer's name, set in type.
    pub name: &'a str,
    /// "concert", "sports", ... for events; "performer" for performers.
    pub kind: &'a str,
    pub genre: &'a str,
}

/// Text as XML character data or an attribute value: `&`, `<`, `>` and
/// both quotes escaped, and characters XML 1.0 cannot carry dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// The name broken into at most three lines of about `width` characters,
/// the last one ending in "…" when the name does not fit.
fn lines(name: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let words: Vec<&str> = name.split_whitespace().collect();
    let mut truncated = false;
    for word in &words {
        let word: String = if word.chars().count() > width {
            truncated = true;
            word.chars().take(width - 1).chain(['…']).collect()
        } else {
            (*word).to_owned()
        };
        let joined = current.chars().count() + 1 + word.chars().count();
        if current.is_empty() {
            current = word;
        } else if joined <= width {
            current.push(' ');
            current.push_str(&word);
        } else {
            out.push(std::mem::take(&mut current));
            current = word;
        }
        if out.len() == 3 {
            break;
        }
    }
    if !current.is_empty() && out.len() < 3 {
        out.push(current);
    } else if !current.is_empty() {
        truncated = true;
    }
    if truncated
        && let Some(last) = out.last_mut()
        && !last.ends_with('…')
    {
        let kept: String = last.chars().take(width - 1).collect();
        *last = format!("{kept}…");
    }
    out
}

/// The SVG document.
pub fn svg(poster: Poster<'_>) -> String {
    let digest = Sha256::new()
        .chain_update(poster.kind.as_bytes())
        .chain_update([0])
        .chain_update(poster.name.as_bytes())
        .chain_update([0])
        .chain_update(poster.genre.as_bytes())
        .finalize();
    let byte = |i: usize| u32::from(digest[i % digest.len()]);
    let hue = (byte(0) << 8 | byte(1)) % 360;
    let accent = (hue + 150 + byte(2) % 60) % 360;
    let pattern = byte(3) % 4;
    let mut shapes = String::new();
    for i in 0..7usize {
        let x = byte(4 + i * 3) * WIDTH / 255;
        let y = byte(5 + i * 3) * HEIGHT / 255;
        let size = 40 + byte(6 + i * 3) % 120;
        let fill = format!("hsl({accent} 70% {}%)", 45 + (i as u32 * 7) % 25);
        let shape = match pattern {
            0 => format!(r#"<circle cx="{x}" cy="{y}" r="{size}" fill="{fill}" opacity="0.35"/>"#),
            1 => format!(
                r#"<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{fill}" opacity="0.3" transform="rotate({} {x} {y})"/>"#,
                byte(7 + i) % 90
            ),
            2 => format!(
                r#"<polygon points="{x},{} {},{} {},{}" fill="{fill}" opacity="0.35"/>"#,
                y.saturating_sub(size),
                x + size,
                y + size,
                x.saturating_sub(size),
                y + size
            ),
            _ => format!(
                r#"<circle cx="{x}" cy="{y}" r="{size}" fill="none" stroke="{fill}" stroke-width="{}" opacity="0.45"/>"#,
                6 + byte(8 + i) % 14
            ),
        };
        shapes.push_str(&shape);
    }
    let title = lines(poster.name, 18);
    // Bold sans glyphs average about 0.66 em: the longest line fits in the
    // 528 pixels between the margins, at 30 to 50 pixels.
    let longest = title
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1)
        .max(1) as u32;
    let size = (528 * 100 / (66 * longest)).clamp(30, 50);
    let mut text = String::new();
    let first = 150 + (3 - title.len().min(3) as u32) * size / 2;
    for (i, line) in title.iter().enumerate() {
        let y = first + i as u32 * (size + 8);
        text.push_str(&format!(
            r##"<text x="36" y="{y}" font-size="{size}" font-weight="700" fill="#fff">{}</text>"##,
            escape(line)
        ));
    }
    let label = if poster.genre.is_empty() || poster.genre == poster.kind {
        poster.kind.to_uppercase()
    } else {
        format!("{} · {}", poster.kind, poster.genre).to_uppercase()
    };
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{alt}">"#,
            r#"<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">"#,
            r#"<stop offset="0" stop-color="hsl({hue} 55% 30%)"/><stop offset="1" stop-color="hsl({hue2} 60% 14%)"/>"#,
            r#"</linearGradient></defs>"#,
            r##"<rect width="{w}" height="{h}" fill="url(#g)"/>{shapes}"##,
            r##"<rect y="{band}" width="{w}" height="{bandh}" fill="#000" opacity="0.35"/>"##,
            r#"<g font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif">{text}"#,
            r##"<text x="36" y="{label_y}" font-size="22" font-weight="600" letter-spacing="3" fill="#fff" opacity="0.9">{label}</text></g>"##,
            "</svg>"
        ),
        w = WIDTH,
        h = HEIGHT,
        alt = escape(poster.name),
        hue = hue,
        hue2 = (hue + 40) % 360,
        shapes = shapes,
        band = HEIGHT - 70,
        bandh = 70,
        text = text,
        label_y = HEIGHT - 27,
        label = escape(&label),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    /// Every text node of the document, unescaped, in order; panics if it
    /// is not well-formed XML.
    fn texts(svg: &str) -> Vec<String> {
        let mut reader = Reader::from_str(svg);
        reader.config_mut().check_end_names = true;
        let mut out = Vec::new();
        let mut depth = 0i32;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Text(t) => out.push(t.unescape().expect("valid entities").into_owned()),
                Event::Empty(e) => {
                    for a in e.attributes() {
                        a.expect("a valid attribute");
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0, "every element is closed");
        out
    }

    fn poster(name: &str) -> String {
        svg(Poster {
            name,
            kind: "concert",
            genre: "rock",
        })
    }

    #[test]
    fn the_same_name_gives_the_same_poster_and_another_name_another() {
        assert_eq!(poster("Lisbon Falcons"), poster("Lisbon Falcons"));
        assert_ne!(poster("Lisbon Falcons"), poster("Lisbon Falcons II"));
        assert_ne!(
            poster("Lisbon Falcons"),
            svg(Poster {
                name: "Lisbon Falcons",
                kind: "concert",
                genre: "jazz"
            })
        );
    }

    #[test]
    fn the_name_and_genre_are_set_in_type() {
        let doc = poster("The Neon Wolves: Endless Summer Tour");
        assert!(
            doc.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="400""#)
        );
        assert_eq!(
            texts(&doc),
            [
                "The Neon Wolves:",
                "Endless Summer",
                "Tour",
                "CONCERT · ROCK"
            ]
        );
    }

    #[test]
    fn markup_in_a_name_is_text_and_the_document_stays_well_formed() {
        let name = r#"<script>alert("x")</script> & 'Friends' ]]> <!--"#;
        let doc = poster(name);
        assert!(!doc.contains("<script"), "{doc}");
        assert!(
            doc.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"),
            "{doc}"
        );
        assert!(doc.contains("&amp; &apos;Friends&apos;"), "{doc}");
        // Read back by an XML parser, the text is the name as given.
        let doc = poster(r#"Al & "Bo's" <b>"#);
        assert_eq!(texts(&doc)[0], r#"Al & "Bo's" <b>"#);
        // Characters XML cannot carry are dropped, not passed on.
        let doc = poster("Bell\u{7}\u{1}s");
        assert_eq!(texts(&doc)[0], "Bells");
    }

    #[test]
    fn long_names_fit_in_three_lines() {
        let title = lines(
            "A Very Long Title That Goes On And On Beyond What Any Poster Could Hold",
            18,
        );
        assert_eq!(title.len(), 3);
        assert!(title.iter().all(|l| l.chars().count() <= 18), "{title:?}");
        assert!(title[2].ends_with('…'), "{title:?}");
        assert_eq!(
            lines("Supercalifragilisticexpialidocious", 18),
            ["Supercalifragilis…"]
        );
        assert_eq!(lines("Short", 18), ["Short"]);
    }
}
