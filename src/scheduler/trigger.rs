//! What woke Ferry, and the budget each wake-up can plan with
//! (Chromium ends a sync event after 3 min, a push after 5; iOS grants ~30 s;
//! WorkManager 10 min): the platform's limit less room to stop cleanly.

use serde::Serialize;

use crate::protocol::json_write::ToJson;

crate::codec::unit_enum_record! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
    pub enum Trigger {
        /// The app is open: no platform limit.
        #[serde(rename = "foreground")]
        Foreground,
        /// Background Sync in a service worker (Chromium ends it after 3 min).
        #[serde(rename = "sync")]
        Sync,
        /// Periodic Background Sync (same event limit).
        #[serde(rename = "periodicsync")]
        PeriodicSync,
        /// A push "tickle" (event timeout 5 min, but a push should be brief).
        #[serde(rename = "push")]
        Push,
        /// iOS BGAppRefreshTask waking a hybrid shell (about 30 s).
        #[serde(rename = "ios-refresh")]
        IosRefresh,
        /// An iOS silent push waking a hybrid shell (about 30 s).
        #[serde(rename = "ios-push")]
        IosPush,
        /// Android WorkManager (10 min per run).
        #[serde(rename = "android-work")]
        AndroidWork,
    }
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Self::Foreground => "foreground",
            Self::Sync => "sync",
            Self::PeriodicSync => "periodicsync",
            Self::Push => "push",
            Self::IosRefresh => "ios-refresh",
            Self::IosPush => "ios-push",
            Self::AndroidWork => "android-work",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }

    /// The budget to plan with when the host names none; `None` is unlimited.
    pub fn default_budget_ms(self) -> Option<f64> {
        match self {
            Self::Foreground => None,
            Self::Sync | Self::PeriodicSync => Some(150_000.0),
            Self::Push | Self::IosRefresh | Self::IosPush => Some(25_000.0),
            Self::AndroidWork => Some(480_000.0),
        }
    }

    /// Whether the app may be closed: background policies apply.
    pub fn is_background(self) -> bool {
        self != Self::Foreground
    }
}

impl ToJson for Trigger {
    fn write_json(&self, out: &mut String) {
        self.name().write_json(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for &trigger in Trigger::ALL {
            assert_eq!(Trigger::parse(trigger.name()), Some(trigger));
            assert_eq!(
                serde_json::to_string(&trigger).unwrap(),
                format!("\"{}\"", trigger.name())
            );
        }
        assert_eq!(Trigger::parse("Sync"), None);
        assert_eq!(Trigger::parse(""), None);
    }

    #[test]
    fn short_wake_ups_plan_with_less_than_their_limit() {
        assert_eq!(Trigger::IosPush.default_budget_ms(), Some(25_000.0));
        assert!(Trigger::Sync.default_budget_ms().unwrap() < 180_000.0);
        assert!(Trigger::AndroidWork.default_budget_ms().unwrap() < 600_000.0);
        assert_eq!(Trigger::Foreground.default_budget_ms(), None);
        assert!(!Trigger::Foreground.is_background());
    }
}
