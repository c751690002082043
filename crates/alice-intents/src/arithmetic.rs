//! Arithmetic in words and symbols, evaluated exactly: "17 gånger 23", "hundra delat med
//! åtta", "3 plus 4", "20 procent av 150", "roten ur 144", "5 i kvadrat", "2^10", "(3+4)*2",
//! "what is 15% of 80".
//!
//! The expression is read into symbols (numbers, + − × / ^ ( ) % ² √), parsed with the usual
//! precedence (powers before products before sums, left to right), and evaluated in
//! [`rust_decimal::Decimal`]: 0,1 + 0,2 is 0,3. Every operation is checked, so division by zero,
//! a negative root and numbers too large for exact arithmetic become an
//! [`ArithmeticProblem`], never a panic. A word the reader does not know means the message is
//! not arithmetic at all, and it goes elsewhere.

use crate::intent::ArithmeticProblem;
use crate::language::Language;
use crate::numbers::parse_number;
use crate::phrases::format_number;
use crate::text::fold;
use rust_decimal::Decimal;
use rust_decimal::MathematicalOps;
use rust_decimal::prelude::ToPrimitive;

/// The largest integer power worked out.
const LARGEST_EXPONENT: i64 = 1000;

/// An expression read from a message: how it is written in symbols, and its value.
#[derive(Debug, PartialEq)]
pub(crate) struct Reading {
    pub expression: String,
    pub value: Result<Decimal, ArithmeticProblem>,
}

/// The expression in `text`, if all of it is one (with at least one operation).
pub(crate) fn read(text: &str, language: Language) -> Option<Reading> {
    let symbols = symbols(&lex(text, language)?)?;
    let mut parser = Parser {
        symbols: &symbols,
        position: 0,
    };
    let expression = parser.sum()?;
    // A number alone, or a percentage alone ("10 procent"), asks for nothing.
    let asks_nothing = match &expression {
        Node::Number(_) => true,
        Node::Postfix(Symbol::Percent, inner) => matches!(**inner, Node::Number(_)),
        _ => false,
    };
    if parser.position != symbols.len() || asks_nothing {
        return None;
    }
    Some(Reading {
        expression: expression.render(language),
        value: expression.value().map(|value| value.normalize()),
    })
}

/// What the first pass reads: numbers, symbols and words still to be understood.
#[derive(Clone, Debug)]
enum Lexeme {
    Number(Option<Decimal>),
    Symbol(Symbol),
    Word(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Symbol {
    Plus,
    Minus,
    Times,
    Divide,
    Power,
    Open,
    Close,
    Percent,
    Squared,
    Cubed,
    Root,
}

/// After the second pass: the words are numbers or symbols too.
#[derive(Clone, Copy, Debug)]
enum Item {
    /// None: digits too many for exact arithmetic.
    Number(Option<Decimal>),
    Symbol(Symbol),
}

fn lex(text: &str, language: Language) -> Option<Vec<Lexeme>> {
    let characters: Vec<char> = text.chars().collect();
    let mut lexemes = Vec::new();
    let mut index = 0;
    while let Some(&character) = characters.get(index) {
        if character.is_ascii_digit() {
            let start = index;
            while index < characters.len() {
                let next = characters[index];
                let separator = (next == ',' || next == '.')
                    && characters.get(index + 1).is_some_and(char::is_ascii_digit);
                if !(next.is_ascii_digit() || separator) {
                    break;
                }
                index += 1;
            }
            let digits: String = characters[start..index].iter().collect();
            lexemes.push(Lexeme::Number(read_digits(&digits, language)?));
            continue;
        }
        if character.is_alphabetic() {
            let start = index;
            while index < characters.len()
                && (characters[index].is_alphabetic() || characters[index] == '\'')
            {
                index += 1;
            }
            let word: String = characters[start..index].iter().collect();
            lexemes.push(Lexeme::Word(fold(&word)));
            continue;
        }
        index += 1;
        let symbol = match character {
            '+' => Symbol::Plus,
            '-' | '−' | '–' => Symbol::Minus,
            '*' | '×' | '·' | '⋅' => Symbol::Times,
            '/' | '÷' => Symbol::Divide,
            '^' => Symbol::Power,
            '(' => Symbol::Open,
            ')' => Symbol::Close,
            '%' => Symbol::Percent,
            '²' => Symbol::Squared,
            '³' => Symbol::Cubed,
            '√' => Symbol::Root,
            _ if character.is_whitespace()
                || matches!(character, '?' | '!' | '.' | ',' | '=' | '"') =>
            {
                continue;
            }
            _ => return None,
        };
        lexemes.push(Lexeme::Symbol(symbol));
    }
    Some(lexemes)
}

/// Digits as a number: a decimal comma or point, except that in English a comma before three
/// digits groups thousands ("1,000"). None inside Some: too large.
fn read_digits(digits: &str, language: Language) -> Option<Option<Decimal>> {
    let normalised = match language {
        Language::English if is_thousands_grouped(digits) => digits.replace(',', ""),
        _ => digits.replace(',', "."),
    };
    if normalised.matches('.').count() > 1 {
        return None;
    }
    Some(normalised.parse::<Decimal>().ok())
}

fn is_thousands_grouped(digits: &str) -> bool {
    let mut groups = digits.split(',');
    let first = groups.next().unwrap_or_default();
    digits.contains(',')
        && (1..=3).contains(&first.len())
        && groups.all(|group| group.len() == 3 && !group.contains('.'))
}

/// Operation words, folded, longest first where one begins another.
const WORDS: &[(&[&str], Symbol)] = &[
    (&["multiplicerat", "med"], Symbol::Times),
    (&["multiplied", "by"], Symbol::Times),
    (&["ganger"], Symbol::Times),
    (&["times"], Symbol::Times),
    (&["x"], Symbol::Times),
    (&["delat", "med"], Symbol::Divide),
    (&["delat", "pa"], Symbol::Divide),
    (&["dividerat", "med"], Symbol::Divide),
    (&["divided", "by"], Symbol::Divide),
    (&["genom"], Symbol::Divide),
    (&["plus"], Symbol::Plus),
    (&["minus"], Symbol::Minus),
    (&["upphojt", "till"], Symbol::Power),
    (&["upphojt", "med"], Symbol::Power),
    (&["to", "the", "power", "of"], Symbol::Power),
    (&["i", "kvadrat"], Symbol::Squared),
    (&["squared"], Symbol::Squared),
    (&["i", "kubik"], Symbol::Cubed),
    (&["cubed"], Symbol::Cubed),
    (&["kvadratroten", "ur"], Symbol::Root),
    (&["roten", "ur"], Symbol::Root),
    (&["the", "square", "root", "of"], Symbol::Root),
    (&["square", "root", "of"], Symbol::Root),
    (&["sqrt"], Symbol::Root),
    (&["procent", "av"], Symbol::Percent),
    (&["percent", "of"], Symbol::Percent),
    (&["procent"], Symbol::Percent),
    (&["percent"], Symbol::Percent),
    (&["av"], Symbol::Times),
    (&["of"], Symbol::Times),
];

fn symbols(lexemes: &[Lexeme]) -> Option<Vec<Item>> {
    let mut items = Vec::new();
    let mut index = 0;
    while let Some(lexeme) = lexemes.get(index) {
        match lexeme {
            Lexeme::Number(value) => {
                items.push(Item::Number(*value));
                index += 1;
            }
            Lexeme::Symbol(symbol) => {
                items.push(Item::Symbol(*symbol));
                index += 1;
            }
            Lexeme::Word(_) => {
                let words: Vec<&str> = lexemes[index..]
                    .iter()
                    .map_while(|lexeme| match lexeme {
                        Lexeme::Word(word) => Some(word.as_str()),
                        _ => None,
                    })
                    .collect();
                if let Some((phrase, symbol)) =
                    WORDS.iter().find(|(phrase, _)| words.starts_with(phrase))
                {
                    items.push(Item::Symbol(*symbol));
                    // "procent av": the percent, then "of" as a product.
                    if phrase.len() == 2 && *symbol == Symbol::Percent {
                        items.push(Item::Symbol(Symbol::Times));
                    }
                    index += phrase.len();
                } else {
                    let (value, used) = parse_number(&words)?;
                    items.push(Item::Number(Some(value)));
                    index += used;
                }
            }
        }
    }
    Some(items)
}

/// A parsed expression.
#[derive(Debug)]
enum Node {
    Number(Option<Decimal>),
    Binary(Symbol, Box<Node>, Box<Node>),
    Negative(Box<Node>),
    Root(Box<Node>),
    Postfix(Symbol, Box<Node>),
    Group(Box<Node>),
}

struct Parser<'a> {
    symbols: &'a [Item],
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Symbol> {
        match self.symbols.get(self.position) {
            Some(Item::Symbol(symbol)) => Some(*symbol),
            _ => None,
        }
    }

    fn sum(&mut self) -> Option<Node> {
        let mut left = self.product()?;
        while let Some(symbol @ (Symbol::Plus | Symbol::Minus)) = self.peek() {
            self.position += 1;
            left = Node::Binary(symbol, Box::new(left), Box::new(self.product()?));
        }
        Some(left)
    }

    fn product(&mut self) -> Option<Node> {
        let mut left = self.unary()?;
        while let Some(symbol @ (Symbol::Times | Symbol::Divide)) = self.peek() {
            self.position += 1;
            left = Node::Binary(symbol, Box::new(left), Box::new(self.unary()?));
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<Node> {
        match self.peek() {
            Some(Symbol::Minus) => {
                self.position += 1;
                Some(Node::Negative(Box::new(self.unary()?)))
            }
            Some(Symbol::Root) => {
                self.position += 1;
                Some(Node::Root(Box::new(self.unary()?)))
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Option<Node> {
        let base = self.postfix()?;
        if self.peek() == Some(Symbol::Power) {
            self.position += 1;
            return Some(Node::Binary(
                Symbol::Power,
                Box::new(base),
                Box::new(self.unary()?),
            ));
        }
        Some(base)
    }

    fn postfix(&mut self) -> Option<Node> {
        let mut node = self.primary()?;
        while let Some(symbol @ (Symbol::Percent | Symbol::Squared | Symbol::Cubed)) = self.peek() {
            self.position += 1;
            node = Node::Postfix(symbol, Box::new(node));
        }
        Some(node)
    }

    fn primary(&mut self) -> Option<Node> {
        match self.symbols.get(self.position)? {
            Item::Number(value) => {
                self.position += 1;
                Some(Node::Number(*value))
            }
            Item::Symbol(Symbol::Open) => {
                self.position += 1;
                let inner = self.sum()?;
                if self.peek() != Some(Symbol::Close) {
                    return None;
                }
                self.position += 1;
                Some(Node::Group(Box::new(inner)))
            }
            Item::Symbol(_) => None,
        }
    }
}

impl Node {
    fn value(&self) -> Result<Decimal, ArithmeticProblem> {
        let too_large = ArithmeticProblem::TooLarge;
        match self {
            Node::Number(value) => value.ok_or(too_large),
            Node::Group(inner) => inner.value(),
            Node::Negative(inner) => Ok(-inner.value()?),
            Node::Root(inner) => {
                let value = inner.value()?;
                if value.is_sign_negative() && !value.is_zero() {
                    return Err(ArithmeticProblem::NegativeRoot);
                }
                value.sqrt().ok_or(too_large)
            }
            Node::Postfix(symbol, inner) => {
                let value = inner.value()?;
                let result = match symbol {
                    Symbol::Percent => value.checked_div(Decimal::from(100)),
                    Symbol::Squared => value.checked_mul(value),
                    _ => value
                        .checked_mul(value)
                        .and_then(|square| square.checked_mul(value)),
                };
                result.ok_or(too_large)
            }
            Node::Binary(symbol, left, right) => {
                let (left, right) = (left.value()?, right.value()?);
                match symbol {
                    Symbol::Plus => left.checked_add(right).ok_or(too_large),
                    Symbol::Minus => left.checked_sub(right).ok_or(too_large),
                    Symbol::Times => left.checked_mul(right).ok_or(too_large),
                    Symbol::Divide if right.is_zero() => Err(ArithmeticProblem::DivisionByZero),
                    Symbol::Divide => left.checked_div(right).ok_or(too_large),
                    _ => {
                        let exponent = right
                            .to_i64()
                            .filter(|_| right.is_integer())
                            .ok_or(too_large)?;
                        if exponent.abs() > LARGEST_EXPONENT {
                            return Err(too_large);
                        }
                        if left.is_zero() && exponent < 0 {
                            return Err(ArithmeticProblem::DivisionByZero);
                        }
                        left.checked_powi(exponent).ok_or(too_large)
                    }
                }
            }
        }
    }

    fn render(&self, language: Language) -> String {
        match self {
            Node::Number(Some(value)) => format_number(*value, language),
            Node::Number(None) => "…".to_owned(),
            Node::Group(inner) => format!("({})", inner.render(language)),
            Node::Negative(inner) => format!("-{}", inner.render(language)),
            Node::Root(inner) => format!("√{}", inner.render(language)),
            Node::Postfix(Symbol::Percent, inner) => match language {
                Language::Swedish => format!("{} %", inner.render(language)),
                Language::English => format!("{}%", inner.render(language)),
            },
            Node::Postfix(Symbol::Squared, inner) => format!("{}²", inner.render(language)),
            Node::Postfix(_, inner) => format!("{}³", inner.render(language)),
            Node::Binary(symbol, left, right) => {
                let operator = match symbol {
                    Symbol::Plus => "+",
                    Symbol::Minus => "-",
                    Symbol::Times => "×",
                    Symbol::Divide => "/",
                    _ => "^",
                };
                format!(
                    "{} {operator} {}",
                    left.render(language),
                    right.render(language)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Reading, read};
    use crate::intent::ArithmeticProblem;
    use crate::language::Language;
    use rust_decimal::Decimal;

    fn swedish(text: &str) -> Option<(String, Result<Decimal, ArithmeticProblem>)> {
        read(text, Language::Swedish).map(|Reading { expression, value }| (expression, value))
    }

    fn value(text: &str) -> Result<Decimal, ArithmeticProblem> {
        Ok(text.parse().unwrap_or_default())
    }

    #[test]
    fn words_and_symbols() {
        assert_eq!(
            swedish("17 gånger 23"),
            Some(("17 × 23".into(), value("391")))
        );
        assert_eq!(
            swedish("hundra delat med åtta"),
            Some(("100 / 8".into(), value("12.5")))
        );
        assert_eq!(swedish("3 plus 4"), Some(("3 + 4".into(), value("7"))));
        assert_eq!(
            swedish("20 procent av 150"),
            Some(("20 % × 150".into(), value("30")))
        );
        assert_eq!(swedish("roten ur 144"), Some(("√144".into(), value("12"))));
        assert_eq!(swedish("5 i kvadrat"), Some(("5²".into(), value("25"))));
        assert_eq!(
            swedish("(3+4)*2"),
            Some(("(3 + 4) × 2".into(), value("14")))
        );
        assert_eq!(swedish("2^10"), Some(("2 ^ 10".into(), value("1024"))));
        assert_eq!(swedish("2,5 × 4"), Some(("2,5 × 4".into(), value("10"))));
        assert_eq!(
            swedish("0,1 + 0,2"),
            Some(("0,1 + 0,2".into(), value("0.3")))
        );
        assert_eq!(
            swedish("10 - 3 * 2"),
            Some(("10 - 3 × 2".into(), value("4")))
        );
        assert_eq!(
            swedish("tjugofem minus sju"),
            Some(("25 - 7".into(), value("18")))
        );
    }

    #[test]
    fn problems_are_answers_not_panics() {
        assert_eq!(
            swedish("5 delat med 0").map(|(_, v)| v),
            Some(Err(ArithmeticProblem::DivisionByZero))
        );
        assert_eq!(
            swedish("roten ur -4").map(|(_, v)| v),
            Some(Err(ArithmeticProblem::NegativeRoot))
        );
        assert_eq!(
            swedish("99999999999999999999999999999999 gånger 2").map(|(_, v)| v),
            Some(Err(ArithmeticProblem::TooLarge))
        );
        assert_eq!(
            swedish("10 ^ 100").map(|(_, v)| v),
            Some(Err(ArithmeticProblem::TooLarge))
        );
    }

    #[test]
    fn not_arithmetic() {
        assert_eq!(swedish("17"), None);
        assert_eq!(swedish("en timer"), None);
        assert_eq!(swedish("multiplikation"), None);
        assert_eq!(swedish("3 plus"), None);
    }

    #[test]
    fn english_thousands() {
        let reading = read("1,000 times 3", Language::English).map(|reading| reading.value);
        assert_eq!(reading, Some(value("3000")));
    }
}
