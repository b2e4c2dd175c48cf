//! `${VAR}` expansion: the environment's values put into the file's text.
//!
//! Pure: the caller passes the environment, places each problem in the file
//! and decides which expanded values are secret.

/// One value after expansion.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Expanded {
    /// The text with every `${VAR}` replaced and `$${` turned into `${`.
    pub value: String,
    /// The non-empty values that came from the environment.
    pub secrets: Vec<String>,
    /// Each problem as (the piece of the raw value it is about, message).
    pub problems: Vec<(String, String)>,
}

/// Expands `${VAR}` in `raw`; `$${` stands for a literal `${`.
pub(super) fn expand(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Expanded {
    let mut done = Expanded {
        value: String::with_capacity(raw.len()),
        ..Expanded::default()
    };
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        done.value.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            done.value.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                done.problems.push((
                    tail.to_string(),
                    "unterminated `${`: write `${NAME}`, or `$${` for a literal `${`".to_string(),
                ));
                return done;
            };
            let name = &after[..end];
            let piece = tail[..end + 3].to_string();
            if !valid_variable(name) {
                done.problems
                    .push((piece, format!("`${{{name}}}` is not a valid variable name")));
            } else {
                match env(name) {
                    Some(found) => {
                        done.value.push_str(&found);
                        if !found.is_empty() {
                            done.secrets.push(found);
                        }
                    }
                    None => done.problems.push((
                        piece,
                        format!(
                            "environment variable `{name}` is not set: export it before starting onair"
                        ),
                    )),
                }
            }
            rest = &after[end + 1..];
        } else {
            done.value.push('$');
            rest = &tail[1..];
        }
    }
    done.value.push_str(rest);
    done
}

fn valid_variable(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "s3cret".to_string())
    }

    #[test]
    fn variables_are_replaced_and_remembered_as_secrets() {
        let done = expand("rtmp://h/app/${KEY}", &env);
        assert_eq!(done.value, "rtmp://h/app/s3cret");
        assert_eq!(done.secrets, vec!["s3cret".to_string()]);
        assert!(done.problems.is_empty());
    }

    #[test]
    fn a_doubled_dollar_is_a_literal() {
        let done = expand("price $${KEY} $5", &env);
        assert_eq!(done.value, "price ${KEY} $5");
        assert!(done.secrets.is_empty());
    }

    #[test]
    fn problems_name_the_piece_they_are_about() {
        let done = expand("a ${MISSING} b ${1X} c ${open", &env);
        let pieces: Vec<&str> = done.problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(pieces, vec!["${MISSING}", "${1X}", "${open"]);
    }
}
