//! The one catalogue of every text the screens show, and the choice of
//! language: the `hookline_lang` cookie (set by the switch in the header)
//! wins over `Accept-Language` with its q-values.
//!
//! Each language is a `match` over [`Text`], so a language that misses a
//! text does not compile: English here, Norwegian bokmål in `norwegian.rs`
//! (chosen for `nb`, `no` and `nn`).

use actix_web::HttpRequest;

/// A language the screens can be shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Nb,
}

/// The languages offered by the switch: (code, own name).
pub const LANGUAGES: &[(Lang, &str, &str)] = &[
    (Lang::En, "en", "English"),
    (Lang::Nb, "nb", "Norsk bokmål"),
];

/// Name of the cookie that remembers the switch.
pub const LANG_COOKIE: &str = "hookline_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nb => "nb",
        }
    }

    fn from_code(code: &str) -> Option<Lang> {
        let primary = code
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        // Nynorsk and plain "Norwegian" readers get bokmål, the one we have.
        if matches!(primary.as_str(), "no" | "nn") {
            return Some(Lang::Nb);
        }
        LANGUAGES
            .iter()
            .find(|(_, c, _)| *c == primary)
            .map(|(l, _, _)| *l)
    }

    /// The language of a request: the cookie, else the best match of
    /// `Accept-Language`, else English.
    pub fn of(req: &HttpRequest) -> Lang {
        if let Some(lang) = req
            .cookie(LANG_COOKIE)
            .and_then(|c| Lang::from_code(c.value()))
        {
            return lang;
        }
        req.headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(negotiate)
            .unwrap_or(Lang::En)
    }

    /// The text `key` in this language.
    pub fn t(self, key: Text) -> &'static str {
        match self {
            Lang::En => english(key),
            Lang::Nb => super::norwegian::norwegian(key),
        }
    }
}

/// The supported language with the highest q-value in an `Accept-Language`
/// header (`nb;q=0.9, en;q=0.8`); ties go to the earlier one.
pub fn negotiate(header: &str) -> Option<Lang> {
    let mut best: Option<(Lang, f32)> = None;
    for part in header.split(',') {
        let mut pieces = part.trim().split(';');
        let code = pieces.next().unwrap_or("").trim();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        if let Some(lang) = Lang::from_code(code) {
            if best.is_none_or(|(_, b)| q > b) {
                best = Some((lang, q));
            }
        }
    }
    best.map(|(l, _)| l)
}

macro_rules! catalogue {
    ($($key:ident => $en:expr,)*) => {
        /// Every text of the screens.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Text { $($key,)* }

        fn english(key: Text) -> &'static str {
            match key { $(Text::$key => $en,)* }
        }

        /// Every text, for the test that compares the catalogues.
        #[cfg(test)]
        pub const ALL_TEXTS: &[Text] = &[$(Text::$key,)*];
    };
}

catalogue! {
    Product => "hookline",
    Settings => "Settings",
    Integrations => "Integrations",
    OutgoingIntegrations => "Outgoing integrations",
    Overview => "Overview",
    Webhooks => "Webhooks",
    Schemas => "Schemas",
    EventRules => "Event rules",
    Deliveries => "Deliveries",
    Coming => "coming",
    LogOut => "Log out",
    Language => "Language",
    Choose => "Choose",
    SkipToContent => "Skip to content",
    // Sign-in
    SignInTitle => "Sign in to hookline",
    SignInHint => "Enter the admin token: the one in your configuration, or the one hookline generated on first start beside its data file (hookline.redb.admin-token).",
    AdminToken => "Admin token",
    LogIn => "Log in",
    WrongToken => "Wrong token",
    TooManyAttempts => "Too many failed attempts from your address. Wait a minute and try again.",
    SessionEnded => "You are signed out.",
    Forbidden => "This request was refused: it did not come from this page or its form token is missing or old. Reload the page and try again.",
    NotFound => "There is nothing at this address.",
    StorageProblem => "hookline could not read or write its data file",
    // Overview
    Pending => "Pending",
    Failed24h => "Failed (24 h)",
    Succeeded24h => "Succeeded (24 h)",
    Name => "Name",
    State => "State",
    LastSuccess => "Last success",
    FailuresInARow => "Failures in a row",
    Enabled => "Enabled",
    Disabled => "Disabled",
    Never => "never",
    NoWebhooksYet => "No webhooks yet. Start by adding the address that should receive your ticket events.",
    OverviewSteps => "Three steps send your first webhook: add a webhook, write a schema for its body, and an event rule that joins them.",
    CountsNote => "Failed and succeeded count the deliveries that ended so in the last 24 hours. Failures in a row are a webhook's failed attempts since its last success.",
    Cluster => "Cluster",
    ClusterNote => "Instances share the events by partition (by ticket); each partition has one owner at a time. Deliveries and their log stay in the file of the instance that stored them.",
    Instance => "Instance",
    ThisInstance => "this instance",
    Partitions => "Partitions",
    NoOwner => "Waiting for an owner",
    NatsConnected => "NATS connected",
    NatsUnreachable => "NATS not reachable: new events are refused (503) until it is back; stored deliveries keep going out",
    NotAcked => "Not yet stored",
    // Webhooks
    NewWebhook => "New Webhook",
    EditWebhook => "Edit Webhook",
    Url => "URL",
    Method => "Method",
    AuthenticationType => "Authentication Type",
    AuthNone => "None",
    AuthBasic => "Basic",
    AuthBearer => "Bearer Token",
    Username => "Username",
    Password => "Password",
    Token => "Token",
    KeepSecretHint => "Leave empty to keep the stored one.",
    Headers => "Headers",
    HeaderName => "Header name",
    HeaderValue => "Header value",
    AddHeader => "+ Add header",
    Timeout => "Timeout",
    TimeoutHint => "For example 5s or 1500ms. Empty uses the daemon's default",
    SigningSecret => "Signing secret",
    SigningNone => "None",
    SigningGenerate => "Generate",
    SigningKeep => "Keep",
    SigningRotate => "Rotate (the old one keeps signing for the grace period)",
    SigningRemove => "Remove",
    Signed => "Signed",
    NotSigned => "Not signed",
    Authentication => "Authentication",
    Signing => "Signing",
    Actions => "Actions",
    Edit => "Edit",
    Delete => "Delete",
    Test => "Test",
    Save => "Save",
    Cancel => "Cancel",
    Yes => "Yes",
    No => "No",
    Saved => "Saved.",
    Deleted => "Deleted.",
    FixBelow => "The form was not saved. Correct the field marked below.",
    SecretOnce => "This is the webhook's new signing secret. Copy it now: it is shown only this once.",
    DeleteWebhookTitle => "Delete webhook",
    DeleteSchemaTitle => "Delete schema",
    DeleteQuestion => "Delete this for good? This cannot be undone.",
    StillUsed => "It is still used by these rules. Change or delete them first:",
    NoWebhooks => "No webhooks.",
    // Test
    TestWebhook => "Test webhook",
    TestHint => "Sends one request now. Nothing is stored, deduplicated or retried.",
    Schema => "Schema",
    BuiltInTestMessage => "Built-in test message",
    Event => "Event",
    SendTest => "Send test",
    Request => "Request",
    Response => "Response",
    Status => "Status",
    Body => "Body",
    Duration => "Duration",
    Error => "Error",
    NoAnswer => "No answer came.",
    FirstBytes => "First 4 KiB of the body",
    // Schemas
    NewSchema => "New Schema",
    SchemaDetails => "Schema Details",
    ContentType => "Content Type",
    Content => "Content",
    UsedBy => "Used by",
    Unused => "not used",
    StartFrom => "Start from",
    StartBlank => "Blank",
    StartEvent => "The whole event as JSON",
    StartSlack => "Slack message",
    StartTeams => "Microsoft Teams message",
    StartMattermost => "Mattermost message",
    StartXml => "XML document",
    Placeholders => "Placeholders",
    PlaceholdersHint => "Choose one to insert it at the cursor.",
    Preview => "Preview",
    PreviewAgainst => "Render against",
    SampleEvent => "The sample event",
    UnknownPlaceholders => "Unknown placeholders (they render empty):",
    NoSchemas => "No schemas.",
    Rules => "rules",
    Pages => "Pages",
    Previous => "← Previous",
    Next => "Next →",
    // Deliveries and events
    StatusPending => "Pending",
    StatusSucceeded => "Succeeded",
    StatusFailed => "Failed",
    StatusCancelled => "Cancelled",
    All => "All",
    Webhook => "Webhook",
    Ticket => "Ticket",
    Filter => "Filter",
    Refresh => "Refresh",
    AutoRefresh => "Refresh every 5 s",
    Created => "Created",
    Attempts => "Attempts",
    LastStatusCode => "Last status code",
    NoDeliveries => "No deliveries.",
    NoMatchYet => "None of the deliveries searched so far match. Older → searches further back.",
    Newest => "← Newest",
    Older => "Older →",
    NextAttempt => "Next attempt",
    CancelDelivery => "Cancel delivery",
    Retry => "Retry",
    WebhookGone => "Its webhook was deleted; there is no request to show.",
    NoAttempts => "No attempt yet.",
    Delivery => "Delivery",
    RetryQueued => "Sent again now, with a fresh set of retries.",
    Cancelled => "Cancelled.",
    Received => "Received",
    Evaluation => "Evaluation",
    MatchedRules => "Matched rules, in order",
    NoRuleMatched => "No rule matched.",
    Targets => "Targets",
    SetResponseTarget => "Set Response Target",
    SetResolveTarget => "Set Resolve Target",
    Suppressed => "Not sent",
    ReasonDedup => "already sent for this ticket within the dedup window",
    ReasonDisabled => "the webhook is disabled",
    ReasonSelf => "an event about this webhook's own health is never sent to it",
    // Event rules
    OpEq => "is equal to",
    OpNe => "is not equal to",
    OpIn => "is one of",
    OpNotIn => "is none of",
    OpContains => "contains",
    OpNotContains => "does not contain",
    OpStartsWith => "starts with",
    OpEndsWith => "ends with",
    OpGt => "is greater than",
    OpGte => "is at least",
    OpLt => "is less than",
    OpLte => "is at most",
    OpExists => "is present",
    OpNotExists => "is absent",
    OpMatches => "matches",
    RuleConditions => "Rule Conditions",
    IfMatch => "If",
    MatchAll => "all",
    MatchAny => "any",
    OfTheFollowing => "of the following conditions are met:",
    ConditionField => "Field",
    ConditionOperator => "Operator",
    ConditionValue => "Value",
    XRemove => "X Remove",
    AddCondition => "+ Add condition",
    StopRules => "Stop checking further rules if the conditions of this rule are met.",
    StopGroups => "Stop checking further groups if the conditions of this rule are met.",
    GroupStopGroups => "Stop checking further groups if the conditions of this group are met.",
    RuleActions => "Rule Actions",
    TargetOff => "off",
    TargetHint => "A target is a duration such as 4h or 2d, handed back to the helpdesk; empty leaves it off.",
    AddWebhook => "+ Add Webhook",
    RulesLead => "Groups are checked from the top; inside a group, rules are checked in order.",
    TryAnEvent => "Try an event",
    NewGroupName => "Name of a new group",
    NewGroup => "New group",
    NoGroups => "No rule groups yet. Add one, then a rule in it.",
    MoveUp => "Move up",
    MoveDown => "Move down",
    Enable => "Enable",
    Disable => "Disable",
    EditGroup => "Group settings",
    GroupOnlyWhen => "Only when",
    GroupStops => "Groups below are not checked when this group's conditions hold.",
    Always => "always",
    StopRulesShort => "then stops checking this group",
    StopGroupsShort => "then stops checking further groups",
    NoRules => "No rules in this group.",
    NewRule => "New rule",
    DeleteRuleTitle => "Delete rule",
    DeleteGroupTitle => "Delete rule group",
    GroupSettings => "Group settings",
    Rule => "Rule",
    TryLead => "See what an event would do. Nothing is stored or sent, and no dedup key is used.",
    RecentEvent => "A recent event",
    PastedEvent => "The event below",
    TryIt => "Try it",
    WouldDo => "What this event would do",
    StoppedRules => "Evaluation of this group stopped here (stop checking further rules).",
    StoppedGroups => "No group after this one was checked (stop checking further groups).",
    WouldDeliver => "Deliveries it would create",
    // Endpoint health
    Health => "Health",
    HealthHealthy => "Healthy",
    HealthFailing => "Failing",
    HealthOpen => "Circuit open",
    HealthDisabled => "Disabled by its health",
    LastFailure => "Last failure",
    OpenUntil => "Next probe",
    PausedUntil => "Paused until",
    DisabledReason => "Why",
    ResetHealth => "Reset health",
    RateRequests => "Rate limit: requests",
    RatePer => "per",
    RateHint => "At most this many requests per period, in bursts of at most as many. Empty: no limit.",
    RetrySchedule => "Retry schedule",
    RetryScheduleHint => "The delays between attempts, comma separated (1 to 30). Empty uses the daemon's schedule.",
    RecoverTitle => "Recover failed deliveries…",
    Since => "Created since",
    Until => "Created before",
    Now => "now",
    RecoverButton => "Send them again",
    Recovered => "Deliveries sent again:",
    BadTime => "Give the times as 2026-12-01T12:00:00Z.",
    HealthWasReset => "Its health was reset; waiting deliveries are sent now.",
    HealthHint => "After repeated failures hookline stops sending to a webhook and sends one probe now and then; waiting deliveries keep their retries and go as soon as a probe succeeds.",
    // Trust and order
    GracePeriod => "Grace period",
    GraceHint => "While it lasts every request carries both signatures, so receivers can switch without a gap (0s to 7d).",
    SecretRotated => "The secret was rotated. The old one keeps signing until",
    OldSecretsSigning => "Old secrets still signing, until:",
    Ordering => "Order",
    OrderingNone => "Any order (fastest)",
    OrderingPerTicket => "One at a time per ticket, in order",
    OrderingHint => "In order: a ticket's next delivery waits until the one before has succeeded, failed or been cancelled. Other tickets are not held up.",
    ClientCertificate => "Client certificate (mutual TLS)",
    CertPem => "Certificate (PEM)",
    KeyPem => "Private key (PEM)",
    CertHint => "Only for receivers that ask for a client certificate. The key is never shown again.",
    CertStored => "Stored certificate:",
    CertExpires => "expires",
    CertKeepHint => "Leave both empty to keep it; a new certificate without a key keeps the stored key.",
    RemoveCertificate => "Remove the client certificate",
    BlockedExplained => "Nothing was sent: hookline's target policy does not allow this address ([delivery] deny_networks and allow_networks in the configuration). Such a delivery is not retried; change the webhook's URL or the policy, then send it again.",
    WaitingForTurn => "Waiting for an earlier delivery of the same ticket",
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every English text has a Norwegian one, and none is left in English
    /// (except the few that are the same word in both: names and codes).
    #[test]
    fn norwegian_translates_every_text() {
        const SAME_IN_BOTH: &[Text] = &[
            Text::Product,
            Text::Webhooks,
            Text::Url,
            Text::AuthBasic,
            Text::Token,
            Text::Test,
            Text::Status,
            Text::Webhook,
            Text::ConditionOperator,
            Text::RatePer,
        ];
        for &key in ALL_TEXTS {
            let (en, nb) = (Lang::En.t(key), Lang::Nb.t(key));
            assert!(!nb.is_empty(), "{key:?}");
            if !SAME_IN_BOTH.contains(&key) {
                assert_ne!(en, nb, "{key:?} is not translated");
            }
        }
    }

    #[test]
    fn accept_language_q_values_pick_the_best_supported() {
        assert_eq!(negotiate("en"), Some(Lang::En));
        assert_eq!(negotiate("de, en-GB;q=0.5"), Some(Lang::En));
        assert_eq!(negotiate("de, fr;q=0.5"), None);
        assert_eq!(negotiate("en;q=0"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(negotiate(";;;q=,"), None);
        assert_eq!(negotiate("nb-NO, en;q=0.5"), Some(Lang::Nb));
        assert_eq!(negotiate("en;q=0.4, nn;q=0.6"), Some(Lang::Nb));
        assert_eq!(negotiate("no"), Some(Lang::Nb));
        assert_eq!(negotiate("de, en;q=0.9, nb;q=0.8"), Some(Lang::En));
    }
}
