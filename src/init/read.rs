//! Reading Kubernetes YAML for `cutover init`: files, directories (every
//! `.yaml`, `.yml` and `.json` below, in name order), `-` for stdin;
//! multi-document files and `List` objects (`kubectl get … -o yaml`).
//!
//! Each document is parsed on its own, so a broken one is a [`Problem`]
//! naming the file and the document (and the line it starts on) while the
//! others are still read. A document that is not a Kubernetes object, or a
//! kind init does not read (a Service, a GRPCRoute), is said too: the first
//! is an error, the second a note. Invariants: never panics on input; every
//! object read keeps where it came from ([`Sourced`]); at most
//! [`MAX_INPUT`] bytes per file.

use std::path::{Path, PathBuf};

use super::k8s::{Gateway, HttpRoute, Ingress, Manifests, ReferenceGrant, Sourced};

/// The largest file read (a whole cluster's `kubectl get -o yaml` fits).
pub const MAX_INPUT: u64 = 64 * 1024 * 1024;

/// Something about the input a user should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `path`, `path document 3` or `path document 3 item 2`.
    pub source: String,
    pub error: bool,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = if self.error { "error" } else { "note" };
        write!(f, "{}: {level}: {}", self.source, self.message)
    }
}

/// Reads every input into `into`; what could not be read is returned.
pub fn read(
    inputs: &[PathBuf],
    stdin: &mut dyn std::io::Read,
    into: &mut Manifests,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::Read::read_to_string(
                &mut std::io::Read::take(&mut *stdin, MAX_INPUT),
                &mut text,
            ) {
                Ok(_) => read_text("<stdin>", &text, into, &mut problems),
                Err(e) => {
                    problems.push(problem("<stdin>", true, format!("cannot read stdin: {e}")))
                }
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = collect(input, &mut files) {
            problems.push(problem(
                &input.display().to_string(),
                true,
                format!("cannot read it ({e}): give a manifest file, a directory of them, or - for stdin"),
            ));
            continue;
        }
        if files.is_empty() {
            problems.push(problem(
                &input.display().to_string(),
                true,
                "holds no .yaml, .yml or .json file".into(),
            ));
        }
        for f in files {
            let name = f.display().to_string();
            match read_file(&f) {
                Ok(text) => read_text(&name, &text, into, &mut problems),
                Err(e) => problems.push(problem(&name, true, e)),
            }
        }
    }
    problems
}

fn problem(source: &str, error: bool, message: String) -> Problem {
    Problem {
        source: source.to_owned(),
        error,
        message,
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            collect(&e, out)?;
        } else if e
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        {
            out.push(e);
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > MAX_INPUT {
        return Err(format!(
            "is {} bytes, more than the {} MiB init reads",
            meta.len(),
            MAX_INPUT / 1024 / 1024
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())
}

/// Splits YAML text into documents: `(first line, text)`.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let marker = line == "---" || line.starts_with("--- ") || line == "...";
        if marker {
            if !current.trim().is_empty() {
                out.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            start = i + 2;
            if let Some(rest) = line.strip_prefix("--- ") {
                current.push_str(rest);
                current.push('\n');
                start = i + 1;
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        out.push((start, current));
    }
    out
}

fn read_text(name: &str, text: &str, into: &mut Manifests, problems: &mut Vec<Problem>) {
    let docs = documents(text);
    let many = docs.len() > 1;
    for (n, (line, doc)) in docs.iter().enumerate() {
        let source = if many {
            format!("{name} document {} (line {line})", n + 1)
        } else {
            name.to_owned()
        };
        // Blank lines before the document keep the parser's line numbers
        // those of the file.
        let padded = format!("{}{doc}", "\n".repeat(line.saturating_sub(1)));
        match serde_saphyr::from_str::<serde_json::Value>(&padded) {
            Ok(serde_json::Value::Null) => {}
            Ok(v) => object(&source, v, into, problems),
            Err(e) => problems.push(problem(
                &source,
                true,
                format!(
                    "is not valid YAML ({}); the other documents are still read",
                    first_line(&e.to_string())
                ),
            )),
        }
    }
}

fn first_line(s: &str) -> &str {
    let line = s.lines().next().unwrap_or(s);
    line.strip_prefix("error: ").unwrap_or(line)
}

fn object(source: &str, v: serde_json::Value, into: &mut Manifests, problems: &mut Vec<Problem>) {
    let kind = v.get("kind").and_then(|k| k.as_str()).map(str::to_owned);
    let api = v
        .get("apiVersion")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_owned();
    let Some(kind) = kind else {
        problems.push(problem(
            source,
            true,
            "is not a Kubernetes object (no `kind`): give Ingress, HTTPRoute and Gateway manifests, or `kubectl get ingress,httproute,gateway -A -o yaml`".into(),
        ));
        return;
    };
    let gateway_api = api.starts_with("gateway.networking.k8s.io/");
    let typed = |what: &str| format!("{kind} {what}");
    match kind.as_str() {
        "List" => {
            let items = v
                .get("items")
                .and_then(|i| i.as_array())
                .cloned()
                .unwrap_or_default();
            for (i, item) in items.into_iter().enumerate() {
                object(&format!("{source} item {}", i + 1), item, into, problems);
            }
        }
        "Ingress" if api == "networking.k8s.io/v1" => match serde_json::from_value::<Ingress>(v) {
            Ok(o) => into.ingresses.push(Sourced {
                object: o,
                source: source.to_owned(),
            }),
            Err(e) => problems.push(problem(source, true, typed(&format!("does not read: {e}")))),
        },
        "Ingress" => problems.push(problem(
            source,
            true,
            format!("Ingress of `{api}` is not read: init reads networking.k8s.io/v1 (the only version Kubernetes 1.22+ serves)"),
        )),
        "Gateway" if gateway_api => match serde_json::from_value::<Gateway>(v) {
            Ok(o) => into.gateways.push(Sourced {
                object: o,
                source: source.to_owned(),
            }),
            Err(e) => problems.push(problem(source, true, typed(&format!("does not read: {e}")))),
        },
        "HTTPRoute" if gateway_api => match serde_json::from_value::<HttpRoute>(v) {
            Ok(o) => into.routes.push(Sourced {
                object: o,
                source: source.to_owned(),
            }),
            Err(e) => problems.push(problem(source, true, typed(&format!("does not read: {e}")))),
        },
        "ReferenceGrant" if gateway_api => match serde_json::from_value::<ReferenceGrant>(v) {
            Ok(o) => into.grants.push(Sourced {
                object: o,
                source: source.to_owned(),
            }),
            Err(e) => problems.push(problem(source, true, typed(&format!("does not read: {e}")))),
        },
        other => problems.push(problem(
            source,
            false,
            format!("kind `{other}` ({api}) is not one init reads (Ingress, Gateway, HTTPRoute, ReferenceGrant, List); skipped"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_markers_and_keep_their_first_line() {
        let docs = documents("a: 1\n---\nb: 2\n--- c: 3\n...\n\n---\n");
        assert_eq!(
            docs,
            vec![
                (1, "a: 1\n".to_owned()),
                (3, "b: 2\n".to_owned()),
                (4, "c: 3\n".to_owned())
            ]
        );
    }

    #[test]
    fn a_broken_document_is_named_and_the_others_are_read() {
        let text = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: a}\n---\nkind: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\nfoo: bar\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n";
        let mut m = Manifests::default();
        let mut problems = Vec::new();
        read_text("m.yaml", text, &mut m, &mut problems);
        assert_eq!(m.ingresses.len(), 1);
        assert_eq!(m.routes.len(), 1);
        assert_eq!(m.routes[0].source, "m.yaml document 5 (line 13)");
        let said: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            said[0].starts_with("m.yaml document 2 (line 5): error: is not valid YAML"),
            "{said:?}"
        );
        assert!(
            said[1].contains("document 3 (line 7): note: kind `Service`"),
            "{said:?}"
        );
        assert!(
            said[2].contains("document 4 (line 11): error: is not a Kubernetes object"),
            "{said:?}"
        );
    }

    #[test]
    fn list_items_are_read_one_by_one() {
        let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: gateway.networking.k8s.io/v1
  kind: Gateway
  metadata: {name: gw, namespace: infra}
  spec: {gatewayClassName: kgateway, listeners: [{name: http, port: 80, protocol: HTTP}]}
- apiVersion: gateway.networking.k8s.io/v1beta1
  kind: ReferenceGrant
  metadata: {name: g, namespace: certs}
"#;
        let mut m = Manifests::default();
        let mut problems = Vec::new();
        read_text("l.yaml", text, &mut m, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(m.gateways[0].object.spec.listeners[0].port, Some(80));
        assert_eq!(m.gateways[0].source, "l.yaml item 1");
        assert_eq!(m.grants.len(), 1);
    }
}
