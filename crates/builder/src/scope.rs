//! Which build arguments a step sees (reference §4 ARG, §6): the classic builder's `BuildArgs`.
//!
//! Terms: *build args* are the `--build-arg` values; *meta args* are the `ARG`s before the
//! first `FROM` (global scope, usable in `FROM` lines, imported into a stage by a bare
//! `ARG name`); *declared* args are the `ARG`s of the current stage, visible from their line to
//! the end of the stage. The predefined proxy args are usable by `RUN` without an `ARG` line
//! and are never written to history.

use std::collections::BTreeMap;

/// Build args every RUN gets without an `ARG` line, when given with `--build-arg`.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Is `name` one of the predefined proxy args?
pub fn is_proxy_arg(name: &str) -> bool {
    PROXY_ARGS.contains(&name)
}

/// The args a stage sees. Cheap to clone; one per stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgScope {
    /// `--build-arg` values (a `None` value means "given without a value and not found in
    /// the client's environment": it does not override anything).
    build_args: BTreeMap<String, Option<String>>,
    /// Global args with their resolved values, in declaration order.
    meta: Vec<(String, Option<String>)>,
    /// This stage's declared args and their (substituted) defaults, in declaration order.
    declared: Vec<(String, Option<String>)>,
}

impl ArgScope {
    /// A fresh stage scope.
    pub fn new(
        build_args: BTreeMap<String, Option<String>>,
        meta: Vec<(String, Option<String>)>,
    ) -> ArgScope {
        ArgScope {
            build_args,
            meta,
            declared: Vec::new(),
        }
    }

    /// Records `ARG name[=default]` (the default already substituted).
    pub fn declare(&mut self, name: &str, default: Option<String>) {
        self.declared.retain(|(n, _)| n != name);
        self.declared.push((name.to_string(), default));
    }

    /// Is `name` declared in this stage?
    pub fn is_declared(&self, name: &str) -> bool {
        self.declared.iter().any(|(n, _)| n == name)
    }

    fn build_arg(&self, name: &str) -> Option<String> {
        self.build_args.get(name).cloned().flatten()
    }

    /// The value of a declared arg: the `--build-arg` value, else its default, else (bare
    /// `ARG name`) the global default. `None` when declared without any value, or undeclared.
    pub fn value(&self, name: &str) -> Option<String> {
        let (_, default) = self.declared.iter().find(|(n, _)| n == name)?;
        if let Some(v) = self.build_arg(name) {
            return Some(v);
        }
        match default {
            Some(d) => Some(d.clone()),
            None => self
                .meta
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.clone()),
        }
    }

    /// Every arg with a value that this stage may use, `(name, value)` sorted by name:
    /// declared args, plus proxy args given as build args.
    pub fn allowed(&self) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (name, _) in &self.declared {
            if let Some(v) = self.value(name) {
                out.insert(name.clone(), v);
            }
        }
        for p in PROXY_ARGS {
            if !out.contains_key(*p) {
                if let Some(v) = self.build_arg(p) {
                    out.insert((*p).to_string(), v);
                }
            }
        }
        out.into_iter().collect()
    }

    /// [`Self::allowed`] minus the names `env` (`KEY=value` entries) defines: ENV wins.
    pub fn allowed_outside(&self, env: &[String]) -> Vec<(String, String)> {
        self.allowed()
            .into_iter()
            .filter(|(k, _)| !env.iter().any(|e| env_key(e) == k))
            .collect()
    }

    /// Variables for substitution: the config's `Env` then the allowed args it does not
    /// shadow.
    pub fn substitution_vars(&self, env: &[String]) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = env
            .iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect();
        vars.extend(self.allowed_outside(env));
        vars
    }

    /// The `K=V` entries Docker prints in a RUN's history and signature (`|1 V=1 ...`):
    /// allowed args not shadowed by `env`, minus proxy args nobody declared; sorted.
    pub fn history_args(&self, env: &[String]) -> Vec<String> {
        let mut v: Vec<String> = self
            .allowed_outside(env)
            .into_iter()
            .filter(|(k, _)| self.is_declared(k) || !is_proxy_arg(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        v.sort();
        v
    }
}

/// The key of a `KEY=value` entry.
pub fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(build: &[(&str, Option<&str>)], meta: &[(&str, Option<&str>)]) -> ArgScope {
        ArgScope::new(
            build
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            meta.iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        )
    }

    #[test]
    fn bare_arg_imports_the_global_default() {
        // "Inside a stage they are invisible until redeclared with a bare ARG name, which
        // imports the global default (or the --build-arg value)."
        let mut s = scope(&[], &[("V", Some("g"))]);
        assert_eq!(s.value("V"), None);
        s.declare("V", None);
        assert_eq!(s.value("V").as_deref(), Some("g"));
        let mut s = scope(&[("V", Some("b"))], &[("V", Some("g"))]);
        s.declare("V", None);
        assert_eq!(s.value("V").as_deref(), Some("b"));
    }

    #[test]
    fn build_arg_overrides_every_default() {
        // "--build-arg X=v overrides the default of every ARG X declaration; an ARG X without
        // a default and without --build-arg is empty."
        let mut s = scope(&[("X", Some("v"))], &[]);
        s.declare("X", Some("d".into()));
        assert_eq!(s.value("X").as_deref(), Some("v"));
        s.declare("Y", None);
        assert_eq!(s.value("Y"), None);
        assert_eq!(s.allowed(), [("X".to_string(), "v".to_string())]);
    }

    #[test]
    fn env_wins_over_arg() {
        // "An ENV X takes precedence over ARG X for substitution and for RUN's environment"
        let mut s = scope(&[("X", Some("arg"))], &[]);
        s.declare("X", None);
        let env = vec!["X=env".to_string()];
        let vars = s.substitution_vars(&env);
        assert_eq!(vars, [("X".to_string(), "env".to_string())]);
        assert!(s.history_args(&env).is_empty());
    }

    #[test]
    fn proxy_args_are_allowed_but_not_in_history() {
        // "usable by RUN without an ARG line, never warned about, never written to history"
        let s = scope(&[("HTTP_PROXY", Some("p")), ("OTHER", Some("o"))], &[]);
        assert_eq!(s.allowed(), [("HTTP_PROXY".to_string(), "p".to_string())]);
        assert!(s.history_args(&[]).is_empty());
    }
}
