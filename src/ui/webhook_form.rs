//! New Webhook / Edit Webhook: what the form holds, how it becomes the API's
//! `WebhookInput` (so the same checks and messages apply), and the form
//! itself. A refused save shows the form again with what was typed —
//! except the password and token, which are never sent back to a browser.

use maud::{html, Markup};
use serde_json::{json, Map, Value};

use super::guard::{Form, SignedIn};
use super::i18n::{Lang, Text};
use super::layout::{csrf_field, field_error};
use crate::model::{Auth, FieldError, Webhook};

/// Empty header rows offered below the filled ones.
const SPARE_HEADER_ROWS: usize = 2;

/// The form's values as typed (or as stored, on edit).
#[derive(Debug, Clone, Default)]
pub struct WebhookForm {
    pub name: String,
    pub url: String,
    pub method: String,
    pub auth_type: String,
    pub username: String,
    pub headers: Vec<(String, String)>,
    pub timeout: String,
    /// `rate_limit` as typed: requests, and the period.
    pub rate_requests: String,
    pub rate_per: String,
    /// `retry_schedule`, comma-separated; empty uses the configured one.
    pub retry_schedule: String,
    pub enabled: bool,
    /// none / generate on a new webhook; keep / rotate / remove on edit.
    pub signing: String,
    /// The grace period of a rotation.
    pub grace: String,
    /// `none` or `per_ticket`.
    pub ordering: String,
    /// A client certificate as typed (public, so shown back on a refused
    /// save; its key never is).
    pub cert_pem: String,
    pub cert_remove: bool,
    /// The stored certificate's subject and expiry, on edit.
    pub cert_stored: Option<(String, String)>,
    /// When the old secrets still signing stop, on edit.
    pub previous_secrets: Vec<String>,
}

impl WebhookForm {
    pub fn new_webhook() -> WebhookForm {
        WebhookForm {
            method: "POST".into(),
            auth_type: "none".into(),
            enabled: true,
            signing: "none".into(),
            grace: "24h".into(),
            ordering: "none".into(),
            ..WebhookForm::default()
        }
    }

    pub fn of(w: &Webhook) -> WebhookForm {
        let (auth_type, username) = match &w.auth {
            Auth::None => ("none", String::new()),
            Auth::Basic { username, .. } => ("basic", username.clone()),
            Auth::Bearer { .. } => ("bearer", String::new()),
        };
        WebhookForm {
            name: w.name.clone(),
            url: w.url.clone(),
            method: w.method.as_str().into(),
            auth_type: auth_type.into(),
            username,
            headers: w
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: w.timeout.clone().unwrap_or_default(),
            rate_requests: w
                .rate_limit
                .as_ref()
                .map(|r| r.requests.to_string())
                .unwrap_or_default(),
            rate_per: w
                .rate_limit
                .as_ref()
                .map(|r| r.per.clone())
                .unwrap_or_default(),
            retry_schedule: w
                .retry_schedule
                .as_ref()
                .map(|s| s.join(", "))
                .unwrap_or_default(),
            enabled: w.enabled,
            signing: if w.signing_secret.is_some() {
                "keep"
            } else {
                "none"
            }
            .into(),
            grace: "24h".into(),
            ordering: w.ordering.as_str().into(),
            cert_pem: String::new(),
            cert_remove: false,
            cert_stored: w
                .client_certificate
                .as_ref()
                .map(|c| (c.subject.clone(), c.not_after.clone())),
            previous_secrets: w
                .previous_secrets_view(crate::model::now_millis())
                .into_iter()
                .map(|p| p.expires_at)
                .collect(),
        }
    }

    pub fn posted(form: &Form) -> WebhookForm {
        let names: Vec<&str> = form.all("header_name").collect();
        let values: Vec<&str> = form.all("header_value").collect();
        let headers = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.to_string(),
                    values.get(i).copied().unwrap_or("").to_string(),
                )
            })
            .filter(|(n, v)| !(n.trim().is_empty() && v.trim().is_empty()))
            .collect();
        WebhookForm {
            name: form.text("name").to_string(),
            url: form.text("url").trim().to_string(),
            method: form.text("method").to_string(),
            auth_type: form.text("auth_type").to_string(),
            username: form.text("username").to_string(),
            headers,
            timeout: form.text("timeout").trim().to_string(),
            rate_requests: form.text("rate_requests").trim().to_string(),
            rate_per: form.text("rate_per").trim().to_string(),
            retry_schedule: form.text("retry_schedule").trim().to_string(),
            enabled: form.checked("enabled"),
            signing: form.text("signing").to_string(),
            grace: form.text("grace").trim().to_string(),
            ordering: form.text("ordering").to_string(),
            cert_pem: form.text("cert_pem").trim().to_string(),
            cert_remove: form.checked("cert_remove"),
            cert_stored: None,
            previous_secrets: Vec::new(),
        }
    }

    /// The API input this form stands for. `form` gives the secrets (an
    /// empty password or token keeps the stored one on edit).
    pub fn to_input(&self, form: &Form) -> Value {
        let secret = |name: &str| {
            let v = form.text(name);
            (!v.is_empty()).then(|| Value::String(v.to_string()))
        };
        let auth = match self.auth_type.as_str() {
            "basic" => {
                let mut a = json!({"type": "basic", "username": self.username});
                if let Some(p) = secret("password") {
                    a["password"] = p;
                }
                a
            }
            "bearer" => {
                let mut a = json!({"type": "bearer"});
                if let Some(t) = secret("token") {
                    a["token"] = t;
                }
                a
            }
            "none" => json!({"type": "none"}),
            other => json!({ "type": other }),
        };
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.trim().to_string(), Value::String(v.clone())))
            .collect();
        let mut input = json!({
            "name": self.name,
            "url": self.url,
            "method": self.method,
            "auth": auth,
            "headers": headers,
            "enabled": self.enabled,
        });
        if !self.timeout.is_empty() {
            input["timeout"] = Value::String(self.timeout.clone());
        }
        if !self.rate_requests.is_empty() || !self.rate_per.is_empty() {
            let requests = self
                .rate_requests
                .parse::<u64>()
                .map_or_else(|_| json!(self.rate_requests), |n| json!(n));
            let per = if self.rate_per.is_empty() {
                "1s"
            } else {
                self.rate_per.as_str()
            };
            input["rate_limit"] = json!({"requests": requests, "per": per});
        }
        if !self.retry_schedule.is_empty() {
            let delays: Vec<&str> = self
                .retry_schedule
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .collect();
            input["retry_schedule"] = json!(delays);
        }
        match self.signing.as_str() {
            "generate" => input["signing_secret"] = json!("generate"),
            "remove" => input["signing_secret"] = Value::Null,
            // none on a new webhook, keep on edit: absent; rotate keeps it
            // here and is applied by the save (with its grace period).
            _ => {}
        }
        if !self.ordering.is_empty() {
            input["ordering"] = Value::String(self.ordering.clone());
        }
        let key = secret("key_pem");
        if self.cert_remove {
            input["client_certificate"] = Value::Null;
        } else if !self.cert_pem.is_empty() || key.is_some() {
            let mut cert = json!({});
            if !self.cert_pem.is_empty() {
                cert["cert_pem"] = Value::String(self.cert_pem.clone());
            }
            if let Some(key) = key {
                cert["key_pem"] = key;
            }
            input["client_certificate"] = cert;
        }
        input
    }
}

/// The form. `id` is `None` for New Webhook; `has_secret` offers keep /
/// rotate / remove.
pub fn render(
    user: &SignedIn,
    id: Option<&str>,
    has_secret: bool,
    f: &WebhookForm,
    error: Option<&FieldError>,
) -> Markup {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let action = id.map_or("/ui/webhooks/new".to_string(), |id| {
        format!("/ui/webhooks/{id}")
    });
    let invalid = |field: &str| {
        error.is_some_and(|e| e.field == field || e.field.starts_with(&format!("{field}.")))
    };
    let signing_choices: &[(&str, Text)] = if id.is_some() && has_secret {
        &[
            ("keep", Text::SigningKeep),
            ("rotate", Text::SigningRotate),
            ("remove", Text::SigningRemove),
        ]
    } else {
        &[
            ("none", Text::SigningNone),
            ("generate", Text::SigningGenerate),
        ]
    };
    let rows = f.headers.len() + SPARE_HEADER_ROWS;
    html! {
        @if error.is_some() { p.problem role="alert" { (t(Text::FixBelow)) } }
        form.stacked.card method="post" action=(action) novalidate {
            (csrf_field(user))
            div.field {
                label for="url" { (t(Text::Url)) }
                input type="url" id="url" name="url" value=(f.url) required
                    class=[invalid("url").then_some("invalid")] aria-describedby=[invalid("url").then_some("url-error")]
                    placeholder="https://receiver.example/hooks/tickets";
                (field_error(error, "url"))
            }
            div.field {
                label for="name" { (t(Text::Name)) }
                input type="text" id="name" name="name" value=(f.name) required maxlength="200"
                    class=[invalid("name").then_some("invalid")] aria-describedby=[invalid("name").then_some("name-error")];
                (field_error(error, "name"))
            }
            div.two {
                div.field {
                    label for="method" { (t(Text::Method)) }
                    select id="method" name="method" class=[invalid("method").then_some("invalid")] {
                        @for m in ["POST", "PUT", "PATCH"] { option value=(m) selected[f.method == m] { (m) } }
                    }
                    (field_error(error, "method"))
                }
                div.field {
                    label for="timeout" { (t(Text::Timeout)) }
                    input type="text" id="timeout" name="timeout" value=(f.timeout) placeholder="10s"
                        class=[invalid("timeout").then_some("invalid")] aria-describedby="timeout-hint";
                    p.hint id="timeout-hint" { (t(Text::TimeoutHint)) }
                    (field_error(error, "timeout"))
                }
            }
            fieldset {
                legend { (t(Text::Authentication)) }
                div.field {
                    label for="auth-type" { (t(Text::AuthenticationType)) }
                    select id="auth-type" name="auth_type" class=[invalid("auth").then_some("invalid")] {
                        option value="none" selected[f.auth_type == "none"] { (t(Text::AuthNone)) }
                        option value="basic" selected[f.auth_type == "basic"] { (t(Text::AuthBasic)) }
                        option value="bearer" selected[f.auth_type == "bearer"] { (t(Text::AuthBearer)) }
                    }
                    (field_error(error, "auth.type"))
                }
                div.field.auth-basic {
                    label for="username" { (t(Text::Username)) }
                    input type="text" id="username" name="username" value=(f.username) autocomplete="off";
                    (field_error(error, "auth.username"))
                }
                div.field.auth-basic {
                    label for="password" { (t(Text::Password)) }
                    input type="password" id="password" name="password" value="" autocomplete="new-password";
                    @if id.is_some() { p.hint { (t(Text::KeepSecretHint)) } }
                    (field_error(error, "auth.password"))
                }
                div.field.auth-bearer {
                    label for="token" { (t(Text::Token)) }
                    input type="password" id="token" name="token" value="" autocomplete="new-password";
                    @if id.is_some() { p.hint { (t(Text::KeepSecretHint)) } }
                    (field_error(error, "auth.token"))
                }
            }
            fieldset {
                legend { (t(Text::Headers)) }
                div.rows id="header-rows" {
                    @for i in 0..rows {
                        @let (name, value) = f.headers.get(i).cloned().unwrap_or_default();
                        div.row {
                            div {
                                label for=(format!("header-name-{i}")) { (t(Text::HeaderName)) }
                                input type="text" id=(format!("header-name-{i}")) name="header_name" value=(name) autocomplete="off";
                            }
                            div {
                                label for=(format!("header-value-{i}")) { (t(Text::HeaderValue)) }
                                input type="text" id=(format!("header-value-{i}")) name="header_value" value=(value) autocomplete="off";
                            }
                        }
                    }
                }
                (field_error(error, "headers"))
                p { button.secondary type="button" data-add-row="header-rows" hidden { (t(Text::AddHeader)) } }
            }
            fieldset {
                legend { (t(Text::Delivery)) }
                div.two {
                    div.field {
                        label for="rate-requests" { (t(Text::RateRequests)) }
                        input type="text" id="rate-requests" name="rate_requests" value=(f.rate_requests) inputmode="numeric"
                            placeholder="—" class=[invalid("rate_limit").then_some("invalid")] aria-describedby="rate-hint";
                        (field_error(error, "rate_limit"))
                    }
                    div.field {
                        label for="rate-per" { (t(Text::RatePer)) }
                        input type="text" id="rate-per" name="rate_per" value=(f.rate_per) placeholder="1s";
                    }
                }
                p.hint id="rate-hint" { (t(Text::RateHint)) }
                div.field {
                    label for="retry-schedule" { (t(Text::RetrySchedule)) }
                    input type="text" id="retry-schedule" name="retry_schedule" value=(f.retry_schedule)
                        placeholder="10s, 30s, 1m, 5m" class=[invalid("retry_schedule").then_some("invalid")] aria-describedby="retry-hint";
                    p.hint id="retry-hint" { (t(Text::RetryScheduleHint)) }
                    (field_error(error, "retry_schedule"))
                }
                div.field {
                    label for="ordering" { (t(Text::Ordering)) }
                    select id="ordering" name="ordering" aria-describedby="ordering-hint"
                        class=[invalid("ordering").then_some("invalid")] {
                        option value="none" selected[f.ordering != "per_ticket"] { (t(Text::OrderingNone)) }
                        option value="per_ticket" selected[f.ordering == "per_ticket"] { (t(Text::OrderingPerTicket)) }
                    }
                    p.hint id="ordering-hint" { (t(Text::OrderingHint)) }
                    (field_error(error, "ordering"))
                }
            }
            (certificate_fields(lang, f, error))
            div.two {
                div.field {
                    label for="signing" { (t(Text::SigningSecret)) }
                    select id="signing" name="signing" class=[invalid("signing_secret").then_some("invalid")] {
                        @for (value, label) in signing_choices {
                            option value=(value) selected[f.signing == *value] { (t(*label)) }
                        }
                    }
                    (field_error(error, "signing_secret"))
                    @if !f.previous_secrets.is_empty() {
                        p.hint { (t(Text::OldSecretsSigning)) " " (f.previous_secrets.join(", ")) }
                    }
                }
                @if id.is_some() && has_secret {
                    div.field {
                        label for="grace" { (t(Text::GracePeriod)) }
                        input type="text" id="grace" name="grace" value=(f.grace) placeholder="24h"
                            class=[invalid("grace").then_some("invalid")] aria-describedby="grace-hint";
                        p.hint id="grace-hint" { (t(Text::GraceHint)) }
                        (field_error(error, "grace"))
                    }
                }
                div.field.toggle {
                    label.check for="enabled" {
                        input type="checkbox" id="enabled" name="enabled" value="on" checked[f.enabled];
                        (t(Text::Enabled))
                    }
                }
            }
            div.buttons {
                button type="submit" { (t(Text::Save)) }
                a.button.secondary href="/ui/webhooks" { (t(Text::Cancel)) }
            }
        }
    }
}

/// The client certificate: what is stored (subject, expiry), the PEM
/// fields (the key always empty), and removing it.
fn certificate_fields(lang: Lang, f: &WebhookForm, error: Option<&FieldError>) -> Markup {
    let t = |k| lang.t(k);
    let invalid = |field: &str| error.is_some_and(|e| e.field == field);
    html! {
        fieldset {
            legend { (t(Text::ClientCertificate)) }
            @if let Some((subject, not_after)) = &f.cert_stored {
                p id="cert-stored" { (t(Text::CertStored)) " " strong { (subject) } ", " (t(Text::CertExpires)) " " (not_after) }
            }
            div.field {
                label for="cert-pem" { (t(Text::CertPem)) }
                textarea id="cert-pem" name="cert_pem" rows="4" spellcheck="false" placeholder="-----BEGIN CERTIFICATE-----"
                    class=[invalid("client_certificate.cert_pem").then_some("invalid")] aria-describedby="cert-hint" { (f.cert_pem) }
                (field_error(error, "client_certificate.cert_pem"))
            }
            div.field {
                label for="key-pem" { (t(Text::KeyPem)) }
                textarea id="key-pem" name="key_pem" rows="4" spellcheck="false" autocomplete="off" placeholder="-----BEGIN PRIVATE KEY-----"
                    class=[invalid("client_certificate.key_pem").then_some("invalid")] aria-describedby="cert-hint" {}
                (field_error(error, "client_certificate.key_pem"))
            }
            p.hint id="cert-hint" {
                (t(Text::CertHint))
                @if f.cert_stored.is_some() { " " (t(Text::CertKeepHint)) }
            }
            @if f.cert_stored.is_some() {
                label.check for="cert-remove" {
                    input type="checkbox" id="cert-remove" name="cert_remove" value="on" checked[f.cert_remove];
                    (t(Text::RemoveCertificate))
                }
            }
        }
    }
}

/// The one-time display of a generated signing secret.
pub fn secret_once(lang: Lang, secret: &str) -> Markup {
    html! {
        div.secret role="status" {
            strong { (lang.t(Text::SecretOnce)) }
            code id="signing-secret" { (secret) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WebhookInput;

    #[test]
    fn a_posted_form_becomes_the_api_input() {
        let form = Form::from_pairs(&[
            ("name", "Desk"),
            ("url", " http://127.0.0.1:9/x "),
            ("method", "PUT"),
            ("auth_type", "bearer"),
            ("token", "tok"),
            ("header_name", "X-A"),
            ("header_value", "1"),
            ("header_name", ""),
            ("header_value", ""),
            ("timeout", "5s"),
            ("enabled", "on"),
            ("signing", "generate"),
        ]);
        let f = WebhookForm::posted(&form);
        assert_eq!(f.headers, vec![("X-A".to_string(), "1".to_string())]);
        let input: WebhookInput = crate::model::parse_input(f.to_input(&form)).expect("valid");
        assert_eq!(input.url, "http://127.0.0.1:9/x");
        assert_eq!(input.signing_secret, Some(Some("generate".into())));
        assert!(input.enabled);
    }

    #[test]
    fn an_empty_password_on_edit_keeps_the_stored_one() {
        let form = Form::from_pairs(&[
            ("name", "D"),
            ("url", "http://a/"),
            ("method", "POST"),
            ("auth_type", "basic"),
            ("username", "u"),
            ("password", ""),
            ("signing", "keep"),
        ]);
        let input = WebhookForm::posted(&form).to_input(&form);
        assert!(input["auth"].get("password").is_none());
        assert!(input.get("signing_secret").is_none(), "keep is absent");
        assert_eq!(input["enabled"], false, "an unticked checkbox is not sent");
    }
}
