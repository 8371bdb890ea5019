//! Who may do what: credentials (htpasswd basic auth, bearer tokens from the built-in token
//! service), access rules per repository pattern, and the `WWW-Authenticate` challenges that
//! tell clients how to authenticate.
//!
//! Decisions, for a request that needs `action` on repository `name`:
//! - no credentials (or skopeo's empty `Basic Og==`): allowed if the rules grant anonymous
//!   clients the action, else `401` with a `Basic` or `Bearer ...,scope=` challenge;
//! - a valid htpasswd user (accepted in both modes): allowed if the rules grant it, else `403 DENIED`;
//! - a valid token: allowed if its `access` claim covers the action; a token with no entry for
//!   `name` (a token for another repository) gets `403 DENIED`; a token with an entry but
//!   without the action gets `401 ... error="insufficient_scope"` when the rules would grant
//!   the token's subject that action (so the client fetches a wider token), else `403`;
//! - bad credentials or an invalid or expired token: `401` with the challenge.
//!
//! `GET /v2/` needs any valid credential (that is what `docker login` checks); the catalog
//! needs an authenticated user or a token with `registry:catalog:*`.

pub mod htpasswd;
pub mod token;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::AuthConfig;
use crate::error::RegistryError;
use crate::name::RepoName;
use htpasswd::Htpasswd;
use token::{now_secs, Claims, TokenAccess, TokenSigner};

/// An action on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Read manifests, blobs, tags, referrers.
    Pull,
    /// Upload blobs, push manifests.
    Push,
    /// Delete manifests, tags, blobs.
    Delete,
}

impl Action {
    /// The action as written in scopes and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn parse_list(s: &str) -> BTreeSet<Action> {
        let mut out = BTreeSet::new();
        for a in s.split(',') {
            match a.trim() {
                "pull" => {
                    out.insert(Action::Pull);
                }
                "push" => {
                    out.insert(Action::Push);
                }
                "delete" => {
                    out.insert(Action::Delete);
                }
                "*" => out.extend([Action::Pull, Action::Push, Action::Delete]),
                _ => {}
            }
        }
        out
    }
}

/// One access rule: `users` may do `actions` on repositories matching `repository`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// A repository name pattern; `*` matches any characters, `/` included.
    pub repository: String,
    /// User names; `anonymous` for clients without credentials, `*` for any authenticated user.
    pub users: Vec<String>,
    /// Granted actions.
    pub actions: Vec<Action>,
}

/// `*`-only glob match over the whole name.
fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Who made a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    /// A user verified against htpasswd.
    User(String),
    /// A verified bearer token.
    Token(Claims),
}

impl Principal {
    /// The user name for logs (empty for anonymous).
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "",
            Principal::User(u) => u,
            Principal::Token(c) => &c.sub,
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone)]
pub enum Need {
    /// `GET /v2/`, `/metrics`: any valid credential.
    Base,
    /// `GET /v2/_catalog`.
    Catalog,
    /// An action on a repository.
    Repo(RepoName, Action),
}

/// The token endpoint's answer.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Issue time (seconds since the epoch).
    pub issued_at: u64,
}

/// Credentials that failed, before a challenge is attached.
#[derive(Debug)]
enum Failure {
    BadCredentials,
    InvalidToken(token::TokenError),
}

/// The configured authentication and access rules.
#[derive(Debug)]
pub struct Auth {
    realm: String,
    htpasswd: Option<Htpasswd>,
    anonymous_pull: bool,
    rules: Vec<AccessRule>,
    token: Option<TokenMode>,
}

#[derive(Debug)]
struct TokenMode {
    signer: TokenSigner,
    realm: Option<String>,
    ttl: Duration,
}

impl Auth {
    /// Builds the authenticator from its configuration; reads the htpasswd file and the token
    /// key (creating the key under `root` when none is configured).
    pub fn from_config(
        config: &AuthConfig,
        rules: Vec<AccessRule>,
        root: &Path,
    ) -> Result<Auth, RegistryError> {
        let htpasswd = config.htpasswd.as_deref().map(Htpasswd::load).transpose()?;
        let token = match &config.token {
            None => None,
            Some(t) => {
                let key = t.key.clone().unwrap_or_else(|| root.join("token.key"));
                Some(TokenMode {
                    signer: TokenSigner::load_or_create(&key, &t.issuer, &t.service)?,
                    realm: t.realm.clone(),
                    ttl: t.expiration,
                })
            }
        };
        Ok(Auth {
            realm: config.realm.clone(),
            htpasswd,
            anonymous_pull: config.anonymous_pull,
            rules,
            token,
        })
    }

    /// Whether bearer tokens (and `/token`) are on.
    pub fn token_mode(&self) -> bool {
        self.token.is_some()
    }

    /// What the rules grant `user` (`None`: anonymous) on `repo`.
    pub fn allowed(&self, user: Option<&str>, repo: &str) -> BTreeSet<Action> {
        let mut out = BTreeSet::new();
        if self.anonymous_pull {
            out.insert(Action::Pull);
        }
        if self.rules.is_empty() {
            if user.is_some() {
                out.extend([Action::Pull, Action::Push, Action::Delete]);
            }
            return out;
        }
        for rule in &self.rules {
            let who = rule.users.iter().any(|u| match user {
                None => u == "anonymous",
                Some(name) => u == "*" || u == name,
            });
            if who && glob_match(&rule.repository, repo) {
                out.extend(rule.actions.iter().copied());
            }
        }
        out
    }

    /// Checks a request's `Authorization` header against `need`. `realm_url` is the default
    /// token realm (`<scheme>://<Host>/token`). May run bcrypt: call from blocking code unless
    /// [`Auth::needs_blocking`] is false.
    pub fn check(
        &self,
        authorization: Option<&str>,
        need: &Need,
        realm_url: &str,
    ) -> Result<Principal, RegistryError> {
        let principal = match self.authenticate(authorization) {
            Ok(p) => p,
            Err(f) => {
                let error = match f {
                    Failure::InvalidToken(e) => {
                        tracing::debug!(error = %e, "bearer token refused");
                        Some("invalid_token")
                    }
                    Failure::BadCredentials => None,
                };
                return Err(self.unauthorized(need, realm_url, error, "authentication required"));
            }
        };
        self.authorize(&principal, need, realm_url)?;
        Ok(principal)
    }

    /// Whether checking this header could run bcrypt (basic credentials not in the cache).
    pub fn needs_blocking(&self, authorization: Option<&str>) -> bool {
        match authorization.and_then(parse_basic) {
            Some((u, p)) if !(u.is_empty() && p.is_empty()) => match &self.htpasswd {
                Some(h) => !h.cached(&u, &p),
                None => false,
            },
            _ => false,
        }
    }

    fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, Failure> {
        let Some(h) = authorization.map(str::trim).filter(|h| !h.is_empty()) else {
            return Ok(Principal::Anonymous);
        };
        if let Some((user, password)) = parse_basic(h) {
            if user.is_empty() && password.is_empty() {
                return Ok(Principal::Anonymous);
            }
            return match &self.htpasswd {
                Some(file) if file.verify(&user, &password) => Ok(Principal::User(user)),
                _ => Err(Failure::BadCredentials),
            };
        }
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let Some(t) = &self.token else {
                return Err(Failure::BadCredentials);
            };
            return t
                .signer
                .verify(rest.trim(), now_secs())
                .map(Principal::Token)
                .map_err(Failure::InvalidToken);
        }
        Err(Failure::BadCredentials)
    }

    fn authorize(
        &self,
        principal: &Principal,
        need: &Need,
        realm_url: &str,
    ) -> Result<(), RegistryError> {
        match (need, principal) {
            (Need::Base, Principal::Anonymous) => {
                Err(self.unauthorized(need, realm_url, None, "authentication required"))
            }
            (Need::Base, _) => Ok(()),
            (Need::Catalog, Principal::User(_)) => Ok(()),
            (Need::Catalog, Principal::Token(c)) => {
                let ok = c.access.iter().any(|a| {
                    a.kind == "registry"
                        && a.name == "catalog"
                        && a.actions.iter().any(|x| x == "*")
                });
                if ok {
                    Ok(())
                } else if c.sub.is_empty() {
                    Err(RegistryError::Denied(
                        "catalog needs an authenticated user".into(),
                    ))
                } else {
                    Err(self.unauthorized(
                        need,
                        realm_url,
                        Some("insufficient_scope"),
                        "insufficient scope",
                    ))
                }
            }
            (Need::Catalog, Principal::Anonymous) => {
                Err(self.unauthorized(need, realm_url, None, "authentication required"))
            }
            (Need::Repo(name, action), Principal::Anonymous) => {
                if self.allowed(None, name.as_str()).contains(action) {
                    Ok(())
                } else {
                    Err(self.unauthorized(need, realm_url, None, "authentication required"))
                }
            }
            (Need::Repo(name, action), Principal::User(u)) => {
                if self.allowed(Some(u), name.as_str()).contains(action) {
                    Ok(())
                } else {
                    Err(denied(name, *action))
                }
            }
            (Need::Repo(name, action), Principal::Token(c)) => {
                let entries: Vec<&TokenAccess> = c
                    .access
                    .iter()
                    .filter(|a| a.kind.starts_with("repository") && a.name == name.as_str())
                    .collect();
                let granted = entries
                    .iter()
                    .any(|a| Action::parse_list(&a.actions.join(",")).contains(action));
                if granted {
                    return Ok(());
                }
                let sub = (!c.sub.is_empty()).then_some(c.sub.as_str());
                if !entries.is_empty() && self.allowed(sub, name.as_str()).contains(action) {
                    Err(self.unauthorized(
                        need,
                        realm_url,
                        Some("insufficient_scope"),
                        "insufficient scope",
                    ))
                } else {
                    Err(denied(name, *action))
                }
            }
        }
    }

    /// A `401` with the challenge for this mode and need.
    fn unauthorized(
        &self,
        need: &Need,
        realm_url: &str,
        error: Option<&str>,
        message: &str,
    ) -> RegistryError {
        let (scope, detail) = match need {
            Need::Base => (None, Value::Null),
            Need::Catalog => (
                Some("registry:catalog:*".to_string()),
                json!([{"Type": "registry", "Name": "catalog", "Action": "*"}]),
            ),
            Need::Repo(name, action) => {
                let actions = match action {
                    Action::Push => "pull,push",
                    other => other.as_str(),
                };
                (
                    Some(format!("repository:{name}:{actions}")),
                    json!([{"Type": "repository", "Name": name.as_str(), "Action": action.as_str()}]),
                )
            }
        };
        let challenge = match &self.token {
            None => format!("Basic realm={}", quote(&self.realm)),
            Some(t) => {
                let realm = t.realm.as_deref().unwrap_or(realm_url);
                let mut c = format!(
                    "Bearer realm={},service={}",
                    quote(realm),
                    quote(t.signer.service())
                );
                if let Some(s) = scope {
                    c.push_str(&format!(",scope={}", quote(&s)));
                }
                if let Some(e) = error {
                    c.push_str(&format!(",error={}", quote(e)));
                }
                c
            }
        };
        RegistryError::Unauthorized {
            message: message.to_string(),
            challenge,
            detail,
        }
    }

    /// The token service: authenticates `authorization` (basic credentials or none) and
    /// issues a token for the intersection of the requested scopes and what the rules allow.
    /// `Ok(None)` when token auth is off.
    pub fn issue_token(
        &self,
        authorization: Option<&str>,
        scopes: &[String],
    ) -> Result<Option<IssuedToken>, RegistryError> {
        let Some(t) = &self.token else {
            return Ok(None);
        };
        let user = match self.authenticate(authorization) {
            Ok(Principal::Anonymous) => None,
            Ok(Principal::User(u)) => Some(u),
            Ok(Principal::Token(_)) | Err(_) => {
                return Err(RegistryError::Unauthorized {
                    message: "incorrect username or password".into(),
                    challenge: format!("Basic realm={}", quote(&self.realm)),
                    detail: Value::Null,
                })
            }
        };
        let mut access: Vec<TokenAccess> = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')) {
            let Some((kind, rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            if kind == "registry" && name == "catalog" {
                if user.is_some() {
                    access.push(TokenAccess {
                        kind: "registry".into(),
                        name: "catalog".into(),
                        actions: vec!["*".into()],
                    });
                }
                continue;
            }
            if !kind.starts_with("repository") || name.parse::<RepoName>().is_err() {
                continue;
            }
            let wanted = Action::parse_list(actions);
            let allowed = self.allowed(user.as_deref(), name);
            let granted: Vec<String> = wanted
                .intersection(&allowed)
                .map(|a| a.as_str().to_string())
                .collect();
            if granted.is_empty() {
                continue;
            }
            match access
                .iter_mut()
                .find(|a| a.kind == "repository" && a.name == name)
            {
                Some(a) => {
                    for g in granted {
                        if !a.actions.contains(&g) {
                            a.actions.push(g);
                        }
                    }
                }
                None => access.push(TokenAccess {
                    kind: "repository".into(),
                    name: name.to_string(),
                    actions: granted,
                }),
            }
        }
        let now = now_secs();
        let ttl = t.ttl.as_secs().max(60);
        tracing::debug!(
            user = user.as_deref().unwrap_or(""),
            ?access,
            "issuing token"
        );
        Ok(Some(IssuedToken {
            token: t
                .signer
                .issue(user.as_deref().unwrap_or(""), access, now, ttl),
            expires_in: ttl,
            issued_at: now,
        }))
    }
}

fn denied(name: &RepoName, action: Action) -> RegistryError {
    RegistryError::Denied(format!(
        "requested access to the resource is denied: {} on {name}",
        action.as_str()
    ))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `Basic <base64(user:password)>` → (user, password).
fn parse_basic(h: &str) -> Option<(String, String)> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "a/b"));
        assert!(glob_match("team/*", "team/x/y"));
        assert!(!glob_match("team/*", "other/x"));
        assert!(glob_match("a/*/c", "a/b/c"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exact2"));
        assert!(!glob_match("a*a", "a"));
    }

    fn auth(rules: Vec<AccessRule>, anonymous_pull: bool, token: bool) -> Auth {
        let h = bcrypt::hash_with_salt("pw", 4, [1u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        Auth {
            realm: "r".into(),
            htpasswd: Some(Htpasswd::parse(&format!("alice:{h}\nbob:{h}\n"))),
            anonymous_pull,
            rules,
            token: token.then(|| TokenMode {
                signer: TokenSigner::new(&[9u8; 32], "berth", "svc"),
                realm: None,
                ttl: Duration::from_secs(300),
            }),
        }
    }

    fn basic(u: &str, p: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))
    }

    fn code(e: RegistryError) -> (u16, String) {
        let challenge = match &e {
            RegistryError::Unauthorized { challenge, .. } => challenge.clone(),
            _ => String::new(),
        };
        (e.status(), challenge)
    }

    #[test]
    fn basic_mode_decisions() {
        let rules = vec![AccessRule {
            repository: "alice/*".into(),
            users: vec!["alice".into()],
            actions: vec![Action::Pull, Action::Push],
        }];
        let a = auth(rules, true, false);
        let repo: RepoName = "alice/app".parse().unwrap();
        let push = Need::Repo(repo.clone(), Action::Push);
        let pull = Need::Repo(repo.clone(), Action::Pull);
        assert!(a.check(None, &pull, "").is_ok(), "anonymous pull");
        assert!(a.check(Some(&basic("", "")), &pull, "").is_ok());
        assert_eq!(
            code(a.check(None, &push, "").unwrap_err()),
            (401, "Basic realm=\"r\"".into())
        );
        assert!(a.check(Some(&basic("alice", "pw")), &push, "").is_ok());
        assert_eq!(
            a.check(Some(&basic("bob", "pw")), &push, "")
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            a.check(Some(&basic("alice", "nope")), &push, "")
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(a.check(None, &Need::Base, "").unwrap_err().status(), 401);
    }

    #[test]
    fn token_mode_decisions() {
        let a = auth(Vec::new(), false, true);
        let repo: RepoName = "tok/bb".parse().unwrap();
        let other: RepoName = "tok/other".parse().unwrap();
        let (_, ch) = code(
            a.check(
                None,
                &Need::Repo(repo.clone(), Action::Push),
                "http://h:1/token",
            )
            .unwrap_err(),
        );
        assert_eq!(
            ch,
            "Bearer realm=\"http://h:1/token\",service=\"svc\",scope=\"repository:tok/bb:pull,push\""
        );
        // Anonymous token: nothing granted.
        let t = a
            .issue_token(None, &["repository:tok/bb:pull".into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            a.check(
                Some(&format!("Bearer {}", t.token)),
                &Need::Repo(repo.clone(), Action::Pull),
                ""
            )
            .unwrap_err()
            .status(),
            403
        );
        assert!(a
            .check(Some(&format!("Bearer {}", t.token)), &Need::Base, "")
            .is_ok());
        // alice asks for pull only, then needs push: insufficient scope.
        let auth_h = basic("alice", "pw");
        let t = a
            .issue_token(Some(&auth_h), &["repository:tok/bb:pull".into()])
            .unwrap()
            .unwrap();
        let bearer = format!("Bearer {}", t.token);
        assert!(a
            .check(Some(&bearer), &Need::Repo(repo.clone(), Action::Pull), "")
            .is_ok());
        let (s, ch) = code(
            a.check(Some(&bearer), &Need::Repo(repo.clone(), Action::Push), "r")
                .unwrap_err(),
        );
        assert_eq!(s, 401);
        assert!(ch.ends_with(",error=\"insufficient_scope\""), "{ch}");
        // A token for another repository.
        let e = a
            .check(Some(&bearer), &Need::Repo(other.clone(), Action::Pull), "")
            .unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(e.code().as_str(), "DENIED");
        // Bad password at the token endpoint, and a forged token.
        assert_eq!(
            a.issue_token(Some(&basic("alice", "x")), &[])
                .unwrap_err()
                .status(),
            401
        );
        let (s, ch) = code(
            a.check(
                Some("Bearer a.b.c"),
                &Need::Repo(repo.clone(), Action::Pull),
                "r",
            )
            .unwrap_err(),
        );
        assert_eq!(s, 401);
        assert!(ch.contains("error=\"invalid_token\""), "{ch}");
    }

    #[test]
    fn token_grants_the_intersection() {
        let rules = vec![AccessRule {
            repository: "*".into(),
            users: vec!["bob".into()],
            actions: vec![Action::Pull],
        }];
        let a = auth(rules, false, true);
        let t = a
            .issue_token(
                Some(&basic("bob", "pw")),
                &[
                    "repository:x/y:pull,push".into(),
                    "repository:z:*".into(),
                    "registry:catalog:*".into(),
                ],
            )
            .unwrap()
            .unwrap();
        let signer = &a.token.as_ref().unwrap().signer;
        let claims = signer.verify(&t.token, now_secs()).unwrap();
        assert_eq!(claims.sub, "bob");
        let names: Vec<(&str, Vec<String>)> = claims
            .access
            .iter()
            .map(|x| (x.name.as_str(), x.actions.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("x/y", vec!["pull".to_string()]),
                ("z", vec!["pull".to_string()]),
                ("catalog", vec!["*".to_string()])
            ]
        );
    }
}
