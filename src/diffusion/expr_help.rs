//! Plain-words explanations of a custom β(u) expression that does not parse (#20 item 9): the
//! parser's messages ("wlog a number/variable cannot be on the right of a closing
//! parenthesis") are for programmers, so the app says what is wrong and where.

/// The names an expression may use besides numbers and operators.
const NAMES: [&str; 17] = [
    "u", "PI", "E", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp",
    "log", "ln", "sqrt", "abs",
];

/// What is wrong with `src` in plain words, and the character index it is at (if known);
/// `parser` is the parser's own message, used when no simple rule explains the error.
pub fn explain(src: &str, parser: &str) -> (String, Option<usize>) {
    let chars: Vec<char> = src.chars().collect();
    let mut depth = 0usize;
    let mut open = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '(' => {
                depth += 1;
                open.push(i);
            }
            ')' if depth == 0 => {
                return (
                    "this ')' closes a parenthesis that was never opened".into(),
                    Some(i),
                );
            }
            ')' => {
                depth -= 1;
                open.pop();
            }
            _ => {}
        }
    }
    if let Some(&i) = open.last() {
        return ("this '(' is never closed".into(), Some(i));
    }
    // Tokens: numbers, names, operators, parentheses (spaces skipped), with their positions.
    let mut tokens: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.'
                    || ((chars[i] == 'e' || chars[i] == 'E')
                        && chars
                            .get(i + 1)
                            .is_some_and(|n| n.is_ascii_digit() || *n == '-' || *n == '+')))
            {
                if chars[i] == 'e' || chars[i] == 'E' {
                    i += 1; // the exponent's sign or first digit
                }
                i += 1;
            }
            tokens.push((start, chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if !NAMES.contains(&name.as_str()) {
                return (
                    format!(
                        "unknown name '{name}'; the variable is u, and functions are sin, cos, exp, log, sqrt, …"
                    ),
                    Some(start),
                );
            }
            tokens.push((start, name));
        } else {
            tokens.push((i, c.to_string()));
            i += 1;
        }
    }
    let is_value = |t: &str| {
        t.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
            || t == "u"
            || t == "PI"
            || t == "E"
    };
    let is_function = |t: &str| NAMES[3..].contains(&t);
    let is_binary = |t: &str| matches!(t, "*" | "/" | "^");
    for w in tokens.windows(2) {
        let ((_, a), (j, b)) = (&w[0], &w[1]);
        let (a, b) = (a.as_str(), b.as_str());
        if a == ")" && (is_value(b) || is_function(b) || b == "(") {
            return (
                format!(
                    "an operator is missing between ')' and '{b}' (write ')*{b}', for example)"
                ),
                Some(*j),
            );
        }
        if is_value(a) && (is_value(b) || is_function(b) || b == "(") {
            return (
                format!(
                    "an operator is missing between '{a}' and '{b}' (write '{a}*{b}', for example)"
                ),
                Some(*j),
            );
        }
        if (is_binary(a) || a == "+" || a == "-") && is_binary(b) {
            return (format!("two operators in a row: '{a}{b}'"), Some(*j));
        }
        if a == "(" && is_binary(b) {
            return (format!("'{b}' needs a value before it"), Some(*j));
        }
        if (is_binary(a) || a == "+" || a == "-") && b == ")" {
            return (format!("'{a}' needs a value after it"), Some(*j));
        }
        if is_function(a) && b != "(" {
            return (
                format!("the function '{a}' needs its argument in parentheses: {a}(…)"),
                Some(*j),
            );
        }
    }
    if let Some((j, last)) = tokens.last()
        && (is_binary(last) || last == "+" || last == "-")
    {
        return (
            format!("the expression ends with '{last}', which needs a value after it"),
            Some(*j),
        );
    }
    if let Some((j, first)) = tokens.first()
        && is_binary(first)
    {
        return (format!("'{first}' needs a value before it"), Some(*j));
    }
    let plain = parser.trim_start_matches("wlog ").trim();
    (format!("it does not parse ({plain})"), None)
}

/// The message for the app: "β(u): what is wrong", then the expression with a caret under the
/// place (two extra lines, to be shown in a monospace font).
pub fn app_message(src: &str, parser: &str) -> String {
    let (what, at) = explain(src, parser);
    match at {
        Some(i) => format!("β(u): {what}\n  {src}\n  {}^", " ".repeat(i)),
        None => format!("β(u): {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_mistakes_are_named_with_their_place() {
        let cases = [
            (
                "(1e-4 + 0.02)u",
                "operator is missing between ')' and 'u'",
                13,
            ),
            (
                "1e-4 + 0.02 u",
                "operator is missing between '0.02' and 'u'",
                12,
            ),
            ("(1e-4 + u", "'(' is never closed", 0),
            ("1e-4 + u)", "never opened", 8),
            ("1e-4 + x", "unknown name 'x'", 7),
            ("1e-4 * * u", "two operators in a row", 7),
            ("1e-4 + u*", "ends with '*'", 8),
            ("exp u", "needs its argument in parentheses", 4),
        ];
        for (src, want, at) in cases {
            let (what, pos) = explain(src, "wlog parser says no");
            assert!(what.contains(want), "{src}: {what}");
            assert_eq!(pos, Some(at), "{src}: {what}");
        }
        // Numbers with exponents are one token.
        let (what, _) = explain("1e-4 + 2.5E+3*u ++", "x");
        assert!(what.contains("ends with '+'"), "{what}");
        let m = app_message("(1e-4 + 0.02)u", "x");
        assert_eq!(m.lines().nth(2), Some("               ^"), "{m}");
        assert!(!m.contains("--expr") && !m.contains("wlog"));
    }
}
