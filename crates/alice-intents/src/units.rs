//! Units Alice converts between, with exact factors: length, mass, volume (with the Swedish
//! kitchen measures krm, tsk, msk, dl and the American cup), temperature, speed, time and area.
//! No currency: rates change, and Alice has no source for them.
//!
//! Every unit but the temperatures is a factor of its kind's base unit (metre, gram, litre,
//! metre per second, second, square metre); temperatures go through Celsius. "mil" is the
//! Swedish mile, 10 km; "miles" is the English one.

use crate::language::Language;
use rust_decimal::Decimal;
use std::str::FromStr;

/// A unit of measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Unit {
    Millimetre,
    Centimetre,
    Decimetre,
    Metre,
    Kilometre,
    SwedishMile,
    Inch,
    Foot,
    Yard,
    Mile,
    Milligram,
    Gram,
    Hectogram,
    Kilogram,
    Tonne,
    Ounce,
    Pound,
    Millilitre,
    Centilitre,
    Decilitre,
    Litre,
    /// Kryddmått, 1 ml.
    SpiceMeasure,
    /// Tesked, 5 ml.
    Teaspoon,
    /// Matsked, 15 ml.
    Tablespoon,
    /// The American cup, 236.5882365 ml.
    Cup,
    /// The American liquid pint, 473.176473 ml.
    Pint,
    /// The American gallon, 3.785411784 l.
    Gallon,
    Celsius,
    Fahrenheit,
    Kelvin,
    MetresPerSecond,
    KilometresPerHour,
    MilesPerHour,
    Knot,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    SquareMetre,
    SquareKilometre,
    Hectare,
    SquareFoot,
    Acre,
}

/// What a unit measures; only units of one kind convert into each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Metres.
    Length,
    /// Grams.
    Mass,
    /// Litres.
    Volume,
    /// Degrees.
    Temperature,
    /// Metres per second.
    Speed,
    /// Seconds.
    Time,
    /// Square metres.
    Area,
}

/// Each unit: its quantity, its factor to the base unit (exact decimal text, or a fraction such as "1000/3600"), its names
/// (folded), and how answers write it in Swedish and English (singular, plural).
struct UnitInfo {
    unit: Unit,
    quantity: Quantity,
    factor: &'static str,
    names: &'static [&'static str],
    swedish: (&'static str, &'static str),
    english: (&'static str, &'static str),
}

const UNITS: &[UnitInfo] = &[
    info(
        Unit::Millimetre,
        Quantity::Length,
        "0.001",
        &[
            "mm",
            "millimeter",
            "millimetre",
            "millimeters",
            "millimetres",
        ],
        ("mm", "mm"),
        ("mm", "mm"),
    ),
    info(
        Unit::Centimetre,
        Quantity::Length,
        "0.01",
        &[
            "cm",
            "centimeter",
            "centimetre",
            "centimeters",
            "centimetres",
        ],
        ("cm", "cm"),
        ("cm", "cm"),
    ),
    info(
        Unit::Decimetre,
        Quantity::Length,
        "0.1",
        &["decimeter"],
        ("dm", "dm"),
        ("dm", "dm"),
    ),
    info(
        Unit::Metre,
        Quantity::Length,
        "1",
        &["m", "meter", "metre", "meters", "metres", "metrar"],
        ("meter", "meter"),
        ("metre", "metres"),
    ),
    info(
        Unit::Kilometre,
        Quantity::Length,
        "1000",
        &["km", "kilometer", "kilometre", "kilometers", "kilometres"],
        ("km", "km"),
        ("km", "km"),
    ),
    info(
        Unit::SwedishMile,
        Quantity::Length,
        "10000",
        &["mil"],
        ("mil", "mil"),
        ("Swedish mile", "Swedish miles"),
    ),
    info(
        Unit::Inch,
        Quantity::Length,
        "0.0254",
        &["tum", "inch", "inches"],
        ("tum", "tum"),
        ("inch", "inches"),
    ),
    info(
        Unit::Foot,
        Quantity::Length,
        "0.3048",
        &["fot", "foot", "feet", "ft"],
        ("fot", "fot"),
        ("foot", "feet"),
    ),
    info(
        Unit::Yard,
        Quantity::Length,
        "0.9144",
        &["yard", "yards", "yd"],
        ("yard", "yard"),
        ("yard", "yards"),
    ),
    info(
        Unit::Mile,
        Quantity::Length,
        "1609.344",
        &["mile", "miles", "mi", "engelska mil"],
        ("engelsk mil", "engelska mil"),
        ("mile", "miles"),
    ),
    info(
        Unit::Milligram,
        Quantity::Mass,
        "0.001",
        &["mg", "milligram", "milligrams"],
        ("mg", "mg"),
        ("mg", "mg"),
    ),
    info(
        Unit::Gram,
        Quantity::Mass,
        "1",
        &["g", "gram", "grams", "gr"],
        ("g", "g"),
        ("g", "g"),
    ),
    info(
        Unit::Hectogram,
        Quantity::Mass,
        "100",
        &["hg", "hekto", "hektogram"],
        ("hg", "hg"),
        ("hg", "hg"),
    ),
    info(
        Unit::Kilogram,
        Quantity::Mass,
        "1000",
        &["kg", "kilo", "kilogram", "kilos", "kilograms"],
        ("kg", "kg"),
        ("kg", "kg"),
    ),
    info(
        Unit::Tonne,
        Quantity::Mass,
        "1000000",
        &["ton", "tonne", "tonnes"],
        ("ton", "ton"),
        ("tonne", "tonnes"),
    ),
    info(
        Unit::Ounce,
        Quantity::Mass,
        "28.349523125",
        &["uns", "ounce", "ounces", "oz"],
        ("uns", "uns"),
        ("ounce", "ounces"),
    ),
    info(
        Unit::Pound,
        Quantity::Mass,
        "453.59237",
        &["pund", "pound", "pounds", "lb", "lbs"],
        ("pund", "pund"),
        ("pound", "pounds"),
    ),
    info(
        Unit::Millilitre,
        Quantity::Volume,
        "0.001",
        &[
            "ml",
            "milliliter",
            "millilitre",
            "milliliters",
            "millilitres",
        ],
        ("ml", "ml"),
        ("ml", "ml"),
    ),
    info(
        Unit::Centilitre,
        Quantity::Volume,
        "0.01",
        &["cl", "centiliter", "centilitre"],
        ("cl", "cl"),
        ("cl", "cl"),
    ),
    info(
        Unit::Decilitre,
        Quantity::Volume,
        "0.1",
        &["dl", "deciliter", "decilitre", "deciliters"],
        ("dl", "dl"),
        ("dl", "dl"),
    ),
    info(
        Unit::Litre,
        Quantity::Volume,
        "1",
        &["l", "liter", "litre", "liters", "litres"],
        ("liter", "liter"),
        ("litre", "litres"),
    ),
    info(
        Unit::SpiceMeasure,
        Quantity::Volume,
        "0.001",
        &["krm", "kryddmatt"],
        ("krm", "krm"),
        ("krm", "krm"),
    ),
    info(
        Unit::Teaspoon,
        Quantity::Volume,
        "0.005",
        &["tsk", "tesked", "teskedar", "teaspoon", "teaspoons", "tsp"],
        ("tsk", "tsk"),
        ("teaspoon", "teaspoons"),
    ),
    info(
        Unit::Tablespoon,
        Quantity::Volume,
        "0.015",
        &[
            "msk",
            "matsked",
            "matskedar",
            "tablespoon",
            "tablespoons",
            "tbsp",
        ],
        ("msk", "msk"),
        ("tablespoon", "tablespoons"),
    ),
    info(
        Unit::Cup,
        Quantity::Volume,
        "0.2365882365",
        &["cup", "cups", "kopp", "koppar"],
        ("cup", "cups"),
        ("cup", "cups"),
    ),
    info(
        Unit::Pint,
        Quantity::Volume,
        "0.473176473",
        &["pint", "pints"],
        ("pint", "pint"),
        ("pint", "pints"),
    ),
    info(
        Unit::Gallon,
        Quantity::Volume,
        "3.785411784",
        &["gallon", "gallons", "gal"],
        ("gallon", "gallon"),
        ("gallon", "gallons"),
    ),
    info(
        Unit::Celsius,
        Quantity::Temperature,
        "1",
        &[
            "celsius",
            "°c",
            "c",
            "grader celsius",
            "grader",
            "degrees celsius",
        ],
        ("°C", "°C"),
        ("°C", "°C"),
    ),
    info(
        Unit::Fahrenheit,
        Quantity::Temperature,
        "1",
        &[
            "fahrenheit",
            "°f",
            "f",
            "grader fahrenheit",
            "degrees fahrenheit",
        ],
        ("°F", "°F"),
        ("°F", "°F"),
    ),
    info(
        Unit::Kelvin,
        Quantity::Temperature,
        "1",
        &["kelvin", "k"],
        ("K", "K"),
        ("K", "K"),
    ),
    info(
        Unit::MetresPerSecond,
        Quantity::Speed,
        "1",
        &[
            "m/s",
            "meter per sekund",
            "metres per second",
            "meters per second",
        ],
        ("m/s", "m/s"),
        ("m/s", "m/s"),
    ),
    info(
        Unit::KilometresPerHour,
        Quantity::Speed,
        "1000/3600",
        &[
            "km/h",
            "kmh",
            "km/t",
            "kilometer i timmen",
            "kilometer per timme",
            "kilometres per hour",
            "kilometers per hour",
            "kph",
        ],
        ("km/h", "km/h"),
        ("km/h", "km/h"),
    ),
    info(
        Unit::MilesPerHour,
        Quantity::Speed,
        "0.44704",
        &["mph", "miles per hour"],
        ("mph", "mph"),
        ("mph", "mph"),
    ),
    info(
        Unit::Knot,
        Quantity::Speed,
        "1852/3600",
        &["knop", "knot", "knots"],
        ("knop", "knop"),
        ("knot", "knots"),
    ),
    info(
        Unit::Second,
        Quantity::Time,
        "1",
        &[
            "sekund", "sekunder", "s", "sek", "second", "seconds", "sec", "secs",
        ],
        ("sekund", "sekunder"),
        ("second", "seconds"),
    ),
    info(
        Unit::Minute,
        Quantity::Time,
        "60",
        &["minut", "minuter", "min", "minute", "minutes", "mins"],
        ("minut", "minuter"),
        ("minute", "minutes"),
    ),
    info(
        Unit::Hour,
        Quantity::Time,
        "3600",
        &["timme", "timmar", "h", "tim", "hour", "hours"],
        ("timme", "timmar"),
        ("hour", "hours"),
    ),
    info(
        Unit::Day,
        Quantity::Time,
        "86400",
        &["dygn", "dag", "dagar", "day", "days"],
        ("dygn", "dygn"),
        ("day", "days"),
    ),
    info(
        Unit::Week,
        Quantity::Time,
        "604800",
        &["vecka", "veckor", "week", "weeks"],
        ("vecka", "veckor"),
        ("week", "weeks"),
    ),
    info(
        Unit::SquareMetre,
        Quantity::Area,
        "1",
        &[
            "m2",
            "m²",
            "kvm",
            "kvadratmeter",
            "square metres",
            "square meters",
            "sqm",
        ],
        ("m²", "m²"),
        ("m²", "m²"),
    ),
    info(
        Unit::SquareKilometre,
        Quantity::Area,
        "1000000",
        &[
            "km2",
            "km²",
            "kvadratkilometer",
            "square kilometres",
            "square kilometers",
        ],
        ("km²", "km²"),
        ("km²", "km²"),
    ),
    info(
        Unit::Hectare,
        Quantity::Area,
        "10000",
        &["hektar", "ha", "hectare", "hectares"],
        ("hektar", "hektar"),
        ("hectare", "hectares"),
    ),
    info(
        Unit::SquareFoot,
        Quantity::Area,
        "0.09290304",
        &["kvadratfot", "square feet", "square foot", "sq ft", "sqft"],
        ("kvadratfot", "kvadratfot"),
        ("square foot", "square feet"),
    ),
    info(
        Unit::Acre,
        Quantity::Area,
        "4046.8564224",
        &["acre", "acres", "tunnland"],
        ("acre", "acre"),
        ("acre", "acres"),
    ),
];

#[allow(clippy::too_many_arguments)]
const fn info(
    unit: Unit,
    quantity: Quantity,
    factor: &'static str,
    names: &'static [&'static str],
    swedish: (&'static str, &'static str),
    english: (&'static str, &'static str),
) -> UnitInfo {
    UnitInfo {
        unit,
        quantity,
        factor,
        names,
        swedish,
        english,
    }
}

impl Unit {
    fn info(self) -> Option<&'static UnitInfo> {
        UNITS.iter().find(|info| info.unit == self)
    }

    /// What this unit measures.
    pub fn quantity(self) -> Option<Quantity> {
        self.info().map(|info| info.quantity)
    }

    /// How an answer writes it: "dl", "engelska mil", "feet".
    pub fn name(self, language: Language, plural: bool) -> &'static str {
        let Some(info) = self.info() else {
            return "";
        };
        let (singular, many) = match language {
            Language::Swedish => info.swedish,
            Language::English => info.english,
        };
        if plural { many } else { singular }
    }

    /// The factor to the base unit as a fraction, so "1000/3600" stays exact.
    fn factor(self) -> Option<(Decimal, Decimal)> {
        let text = self.info()?.factor;
        let (numerator, denominator) = text.split_once('/').unwrap_or((text, "1"));
        Some((
            Decimal::from_str(numerator).ok()?,
            Decimal::from_str(denominator).ok()?,
        ))
    }
}

/// A unit named at the start of `words` (folded), longest name first, and how many words.
pub(crate) fn parse_unit(words: &[&str]) -> Option<(Unit, usize)> {
    UNITS
        .iter()
        .flat_map(|info| info.names.iter().map(move |name| (info.unit, *name)))
        .filter_map(|(unit, name)| {
            let parts: Vec<&str> = name.split(' ').collect();
            (words.len() >= parts.len() && words[..parts.len()] == parts[..])
                .then_some((unit, parts.len()))
        })
        .max_by_key(|(_, used)| *used)
}

/// `value` in `from` as `to`, exactly where the factors are exact; None across quantities or
/// on overflow.
pub fn convert(value: Decimal, from: Unit, to: Unit) -> Option<Decimal> {
    let quantity = from.quantity()?;
    if to.quantity()? != quantity {
        return None;
    }
    if quantity == Quantity::Temperature {
        return from_celsius(to_celsius(value, from)?, to);
    }
    let (from_numerator, from_denominator) = from.factor()?;
    let (to_numerator, to_denominator) = to.factor()?;
    value
        .checked_mul(from_numerator)?
        .checked_mul(to_denominator)?
        .checked_div(from_denominator.checked_mul(to_numerator)?)
}

fn to_celsius(value: Decimal, unit: Unit) -> Option<Decimal> {
    match unit {
        Unit::Celsius => Some(value),
        Unit::Fahrenheit => value
            .checked_sub(Decimal::from(32))?
            .checked_mul(Decimal::from(5))?
            .checked_div(Decimal::from(9)),
        Unit::Kelvin => value.checked_sub(Decimal::new(27315, 2)),
        _ => None,
    }
}

fn from_celsius(celsius: Decimal, unit: Unit) -> Option<Decimal> {
    match unit {
        Unit::Celsius => Some(celsius),
        Unit::Fahrenheit => celsius
            .checked_mul(Decimal::from(9))?
            .checked_div(Decimal::from(5))?
            .checked_add(Decimal::from(32)),
        Unit::Kelvin => celsius.checked_add(Decimal::new(27315, 2)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Unit, convert, parse_unit};
    use rust_decimal::Decimal;

    fn value(text: &str) -> Decimal {
        text.parse().unwrap_or_default()
    }

    #[test]
    fn names_longest_first() {
        assert_eq!(
            parse_unit(&["grader", "celsius", "i"]),
            Some((Unit::Celsius, 2))
        );
        assert_eq!(parse_unit(&["grader"]), Some((Unit::Celsius, 1)));
        assert_eq!(parse_unit(&["engelska", "mil"]), Some((Unit::Mile, 2)));
        assert_eq!(parse_unit(&["mil"]), Some((Unit::SwedishMile, 1)));
        assert_eq!(parse_unit(&["msk"]), Some((Unit::Tablespoon, 1)));
        assert_eq!(parse_unit(&["hund"]), None);
    }

    #[test]
    fn conversions() {
        assert_eq!(
            convert(value("20"), Unit::Celsius, Unit::Fahrenheit),
            Some(value("68"))
        );
        assert_eq!(
            convert(value("3"), Unit::Decilitre, Unit::Tablespoon),
            Some(value("20"))
        );
        assert_eq!(
            convert(value("5"), Unit::Mile, Unit::Kilometre),
            Some(value("8.04672"))
        );
        assert_eq!(
            convert(value("0"), Unit::Kelvin, Unit::Celsius),
            Some(value("-273.15"))
        );
        assert_eq!(
            convert(value("2"), Unit::Hour, Unit::Minute),
            Some(value("120"))
        );
        assert_eq!(convert(value("1"), Unit::Kilogram, Unit::Metre), None);
    }
}
