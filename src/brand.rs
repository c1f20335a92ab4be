//! A site's colour in its emails, made legible in both colour schemes.
//!
//! The colour is the site's name at the head of the email, the "New" divider, links and the
//! button (white text on it). In light mode it must itself reach WCAG AA (4.5:1) against every
//! light ground it is written on, or the config is refused with a darker shade to use instead;
//! for dark mode a lighter shade of it is derived that reaches AA on the dark grounds. The
//! arithmetic is WCAG 2's relative luminance and contrast ratio.

use std::fmt;

/// WCAG AA for normal text.
pub const AA: f64 = 4.5;

/// The light-mode grounds brand-coloured text sits on (the card, the visitor's bubble, the
/// agent's bubble), white included because the button's text is white on the colour.
const LIGHT_GROUNDS: [Colour; 3] = [
    Colour::rgb(0xff, 0xff, 0xff),
    Colour::rgb(0xea, 0xf3, 0xff),
    Colour::rgb(0xf3, 0xf5, 0xf8),
];

/// The dark-mode grounds (`templates/email.html`'s dark styles): card, bubbles, page.
const DARK_GROUNDS: [Colour; 4] = [
    Colour::rgb(0x16, 0x1b, 0x22),
    Colour::rgb(0x1c, 0x33, 0x56),
    Colour::rgb(0x26, 0x2c, 0x36),
    Colour::rgb(0x0d, 0x11, 0x17),
];

/// The colour of a site that sets none: a calm blue.
pub const DEFAULT: Colour = Colour::rgb(0x0b, 0x5c, 0xad);

/// An sRGB colour, written `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Colour {
    r: u8,
    g: u8,
    b: u8,
}

impl Colour {
    const fn rgb(r: u8, g: u8, b: u8) -> Colour {
        Colour { r, g, b }
    }

    /// `#rgb` or `#rrggbb`, any case.
    pub fn parse(s: &str) -> Result<Colour, String> {
        let hex = s
            .strip_prefix('#')
            .filter(|h| matches!(h.len(), 3 | 6) && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| format!("`{s}` is not a colour written as #rrggbb or #rgb"))?;
        let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).expect("hex digit");
        Ok(if hex.len() == 3 {
            Colour::rgb(digit(0) * 17, digit(1) * 17, digit(2) * 17)
        } else {
            let byte = |i: usize| digit(i) * 16 + digit(i + 1);
            Colour::rgb(byte(0), byte(2), byte(4))
        })
    }

    /// WCAG 2's relative luminance.
    fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.r) + 0.7152 * channel(self.g) + 0.0722 * channel(self.b)
    }

    /// WCAG 2's contrast ratio, from 1 to 21.
    pub fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// This colour moved `t` (0 to 1) of the way towards `other`.
    fn towards(self, other: Colour, t: f64) -> Colour {
        let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Colour::rgb(
            mix(self.r, other.r),
            mix(self.g, other.g),
            mix(self.b, other.b),
        )
    }

    /// The least contrast against any of `grounds`.
    fn worst(self, grounds: &[Colour]) -> f64 {
        grounds
            .iter()
            .map(|g| self.contrast(*g))
            .fold(f64::INFINITY, f64::min)
    }

    /// The nearest shade towards `end` (black or white) that reaches AA on `grounds`: steps of
    /// 1 % keep the hue as close to the site's as the contrast allows.
    fn legible_on(self, grounds: &[Colour], end: Colour) -> Colour {
        (0..=100)
            .map(|step| self.towards(end, f64::from(step) / 100.0))
            .find(|c| c.worst(grounds) >= AA)
            .unwrap_or(end)
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// A site's colour for each scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Brand {
    /// As the site gave it: text on light grounds, and the button under white text.
    pub light: Colour,
    /// A lighter shade of it for text on the dark grounds.
    pub dark: Colour,
}

impl Brand {
    /// The brand of `colour`, refused (with a shade that would do) where text in it would not
    /// reach AA on the light grounds.
    pub fn new(colour: Colour) -> Result<Brand, String> {
        let worst = colour.worst(&LIGHT_GROUNDS);
        if worst < AA {
            let black = Colour::rgb(0, 0, 0);
            return Err(format!(
                "{colour} is too light to read on the email's white card and behind its \
                 button's white text ({worst:.1}:1, WCAG AA asks 4.5:1); the nearest shade \
                 that reads is {}",
                colour.legible_on(&LIGHT_GROUNDS, black)
            ));
        }
        let white = Colour::rgb(0xff, 0xff, 0xff);
        Ok(Brand {
            light: colour,
            dark: colour.legible_on(&DARK_GROUNDS, white),
        })
    }
}

impl Default for Brand {
    fn default() -> Brand {
        Brand::new(DEFAULT).expect("the default colour is legible")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_in_both_forms_and_nothing_else() {
        assert_eq!(Colour::parse("#0B5CAD"), Ok(DEFAULT));
        assert_eq!(Colour::parse("#fff").unwrap().to_string(), "#ffffff");
        for bad in ["0b5cad", "#0b5cad0", "#ggg", "blue", ""] {
            assert!(Colour::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contrast_is_wcags() {
        let (black, white) = (Colour::rgb(0, 0, 0), Colour::rgb(255, 255, 255));
        assert!((black.contrast(white) - 21.0).abs() < 1e-9);
        assert!((white.contrast(white) - 1.0).abs() < 1e-9);
        // WebAIM's checker gives #777777 on white 4.48:1.
        assert!((Colour::rgb(0x77, 0x77, 0x77).contrast(white) - 4.48).abs() < 0.01);
    }

    #[test]
    fn a_colour_too_light_is_refused_with_a_shade_that_reads() {
        let table = [
            // (colour, accepted)
            ("#0b5cad", true),
            ("#c2410c", true),
            ("#000000", true),
            ("#ffcc00", false),
            ("#22c55e", false),
            ("#ffffff", false),
        ];
        for (text, accepted) in table {
            let colour = Colour::parse(text).unwrap();
            match Brand::new(colour) {
                Ok(brand) => {
                    assert!(accepted, "{text} accepted");
                    assert!(brand.light.worst(&LIGHT_GROUNDS) >= AA, "{text}");
                    assert!(
                        brand.dark.worst(&DARK_GROUNDS) >= AA,
                        "{text}: {}",
                        brand.dark
                    );
                }
                Err(e) => {
                    assert!(!accepted, "{text} refused: {e}");
                    let shade = e.rsplit(' ').next().unwrap();
                    let shade = Colour::parse(shade).unwrap();
                    assert!(
                        Brand::new(shade).is_ok(),
                        "{text}: the suggested {shade} reads"
                    );
                }
            }
        }
    }
}
