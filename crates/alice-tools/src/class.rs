//! Which tools a brownout switches off, by level (the seed's table): LIGHT switches off the
//! code interpreter; MODERATE also file and web search; HEAVY also calendar and email. What
//! fits none of these ("other") runs until an emergency, where Alice serves the least she can.

use alice_core::BrownoutLevel;

/// A tool's class for brownout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToolClass {
    CodeInterpreter,
    FileSearch,
    WebSearch,
    Calendar,
    Email,
    Other,
}

impl ToolClass {
    /// The class a config names (`tools.webhooks[].brownout_class`, checked by the config).
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "code_interpreter" => ToolClass::CodeInterpreter,
            "file_search" => ToolClass::FileSearch,
            "web_search" => ToolClass::WebSearch,
            "calendar" => ToolClass::Calendar,
            "email" => ToolClass::Email,
            "other" => ToolClass::Other,
            _ => return None,
        })
    }

    /// The class of an integration's tool when the config names none.
    pub fn of_integration(integration: Option<&str>) -> Self {
        match integration {
            Some("weather") => ToolClass::WebSearch,
            Some("mail") => ToolClass::Email,
            Some("calendar") => ToolClass::Calendar,
            _ => ToolClass::Other,
        }
    }

    /// The lightest brownout level that switches this class off.
    pub fn switched_off_at(self) -> BrownoutLevel {
        match self {
            ToolClass::CodeInterpreter => BrownoutLevel::Light,
            ToolClass::FileSearch | ToolClass::WebSearch => BrownoutLevel::Moderate,
            ToolClass::Calendar | ToolClass::Email => BrownoutLevel::Heavy,
            ToolClass::Other => BrownoutLevel::Emergency,
        }
    }

    /// Whether a tool of this class may run at `level`.
    pub fn runs_at(self, level: BrownoutLevel) -> bool {
        level < self.switched_off_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_table() {
        use BrownoutLevel::*;
        let on = |class: ToolClass| {
            [None, Light, Moderate, Heavy, Emergency]
                .into_iter()
                .filter(|level| class.runs_at(*level))
                .collect::<Vec<_>>()
        };
        assert_eq!(on(ToolClass::CodeInterpreter), [None]);
        assert_eq!(on(ToolClass::WebSearch), [None, Light]);
        assert_eq!(on(ToolClass::FileSearch), [None, Light]);
        assert_eq!(on(ToolClass::Calendar), [None, Light, Moderate]);
        assert_eq!(on(ToolClass::Email), [None, Light, Moderate]);
        assert_eq!(on(ToolClass::Other), [None, Light, Moderate, Heavy]);
    }
}
