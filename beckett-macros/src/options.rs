//! Options written `key = value`, `key(...)` or `key` inside an attribute:
//! the parsing shared by `#[message(...)]` and `#[subscription(...)]`.
//!
//! Every mistake is reported to an [`Errors`] and parsing goes on with the
//! next option, so one compile lists them all. Only a syntax error that
//! leaves the tokens unreadable stops it.

use crate::errors::{source_text, Errors};
use crate::symbol::Symbol;
use quote::ToTokens;
use std::fmt::Display;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{parse::Parse, Token};

/// Reads the options of one macro, knowing which names it accepts.
pub struct OptionParser<'e> {
    known: &'static [Symbol],
    seen: Vec<Symbol>,
    errors: &'e mut Errors,
    clean: bool,
}

impl<'e> OptionParser<'e> {
    /// A parser for the options named in `known`, reporting to `errors`.
    pub fn new(known: &'static [Symbol], errors: &'e mut Errors) -> Self {
        Self {
            known,
            seen: Vec::new(),
            errors,
            clean: true,
        }
    }

    /// Which known option `meta` starts. An unknown or repeated option is
    /// reported, its value skipped, and `None` returned.
    pub fn option(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Symbol>> {
        let Some(&option) = self.known.iter().find(|known| meta.path == **known) else {
            let message = unknown_option(&meta.path, self.known);
            self.report(&meta.path, message);
            skip_value(meta)?;
            return Ok(None);
        };
        if self.seen.contains(&option) {
            self.report(
                &meta.path,
                format!("duplicate option `{option}`; give each option once"),
            );
            skip_value(meta)?;
            return Ok(None);
        }
        self.seen.push(option);
        Ok(Some(option))
    }

    /// The string literal of `option = "..."`.
    pub fn string(
        &mut self,
        option: Symbol,
        meta: &ParseNestedMeta<'_>,
    ) -> syn::Result<Option<syn::LitStr>> {
        let usage = format!("a string literal: `{option} = \"...\"`");
        self.literal(meta, &usage, string_literal)
    }

    /// The string literals of `option("...", ...)`; each item that is not
    /// one is reported and left out.
    pub fn strings(
        &mut self,
        option: Symbol,
        meta: &ParseNestedMeta<'_>,
    ) -> syn::Result<Option<Vec<syn::LitStr>>> {
        let usage = format!("a string literal: `{option}(\"...\", \"...\")`");
        let Some(items) = self.list::<syn::Expr>(option, meta)? else {
            return Ok(None);
        };
        let strings = items
            .into_iter()
            .filter_map(|item| self.picked(item, &usage, string_literal))
            .collect();
        Ok(Some(strings))
    }

    /// The integer literal of `option = N`.
    pub fn integer(
        &mut self,
        option: Symbol,
        meta: &ParseNestedMeta<'_>,
    ) -> syn::Result<Option<syn::LitInt>> {
        let usage = format!("a non-negative integer: `{option} = 5`");
        self.literal(meta, &usage, |lit| match lit {
            syn::Lit::Int(lit) => Some(lit),
            _ => None,
        })
    }

    /// The items of `option(A, B, ...)`.
    pub fn list<T: Parse>(
        &mut self,
        option: Symbol,
        meta: &ParseNestedMeta<'_>,
    ) -> syn::Result<Option<Vec<T>>> {
        if !meta.input.peek(syn::token::Paren) {
            self.report(
                &meta.path,
                format!("expected a list in parentheses: `{option}(A, B)`"),
            );
            skip_value(meta)?;
            return Ok(None);
        }
        let content;
        syn::parenthesized!(content in meta.input);
        let items = Punctuated::<T, Token![,]>::parse_terminated(&content)?;
        Ok(Some(items.into_iter().collect()))
    }

    /// Whether `option` stands alone, as a flag should; a value after it is
    /// reported.
    pub fn flag(&mut self, option: Symbol, meta: &ParseNestedMeta<'_>) -> syn::Result<bool> {
        if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
            self.report(
                &meta.path,
                format!("`{option}` is a flag and takes no value: write `{option}` alone"),
            );
            skip_value(meta)?;
            return Ok(false);
        }
        Ok(true)
    }

    /// The value of `result`, or `None` after reporting its error: for
    /// values that parse but do not make sense.
    pub fn accept<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result
            .map_err(|error| {
                self.clean = false;
                self.errors.push(error);
            })
            .ok()
    }

    /// Ends parsing with the result of the syntax parser; returns whether
    /// every option was read without a mistake, so that a missing option
    /// really is missing (and not misspelt or malformed).
    pub fn finish(mut self, syntax: syn::Result<()>) -> bool {
        self.accept(syntax);
        self.clean
    }

    /// The literal after `=` that `pick` accepts, or `None` after
    /// reporting that `usage` was expected.
    fn literal<T>(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        usage: &str,
        pick: impl FnOnce(syn::Lit) -> Option<T>,
    ) -> syn::Result<Option<T>> {
        let Some(value) = self.assigned(meta, usage)? else {
            return Ok(None);
        };
        Ok(self.picked(value, usage, pick))
    }

    /// `value` as the literal `pick` accepts, or `None` after reporting
    /// that `usage` was expected.
    fn picked<T>(
        &mut self,
        value: syn::Expr,
        usage: &str,
        pick: impl FnOnce(syn::Lit) -> Option<T>,
    ) -> Option<T> {
        if let syn::Expr::Lit(syn::ExprLit { lit, .. }) = &value {
            if let Some(picked) = pick(lit.clone()) {
                return Some(picked);
            }
        }
        self.report(value, format!("expected {usage}"));
        None
    }

    /// The expression after `=`, or `None` after reporting that `usage` was
    /// expected.
    fn assigned(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        usage: &str,
    ) -> syn::Result<Option<syn::Expr>> {
        if meta.input.peek(Token![=]) {
            meta.input.parse::<Token![=]>()?;
            return meta.input.parse().map(Some);
        }
        self.report(&meta.path, format!("expected {usage}"));
        skip_value(meta)?;
        Ok(None)
    }

    /// Reports a mistake spanned at `tokens`.
    fn report(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.clean = false;
        self.errors.spanned(tokens, message);
    }
}

/// A string literal, for [`OptionParser::picked`].
fn string_literal(lit: syn::Lit) -> Option<syn::LitStr> {
    match lit {
        syn::Lit::Str(lit) => Some(lit),
        _ => None,
    }
}

/// Skips what follows an option's name (`= expr` or `(...)`), so parsing
/// can go on after a reported mistake.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        meta.input.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

/// "unknown option `gruop`; did you mean `group`? expected one of: ...".
fn unknown_option(path: &syn::Path, known: &[Symbol]) -> String {
    let written = source_text(path);
    if let [only] = known {
        return format!("unknown option `{written}`; the only option is `{only}`");
    }
    let expected = known
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    match closest(&written, known) {
        Some(guess) => format!(
            "unknown option `{written}`; did you mean `{guess}`? expected one of: {expected}"
        ),
        None => format!("unknown option `{written}`; expected one of: {expected}"),
    }
}

/// The candidate `written` is most likely a misspelling of: the nearest by
/// edit distance, if within a third of the word's length (as rustc judges
/// "did you mean").
fn closest(written: &str, candidates: &[Symbol]) -> Option<Symbol> {
    let limit = written.chars().count().max(3) / 3;
    candidates
        .iter()
        .map(|&candidate| (edit_distance(written, candidate.as_str()), candidate))
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a`
/// into `b`: the optimal string alignment distance, so `gruop` is one edit
/// from `group`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbol::SUBSCRIPTION_OPTIONS;

    #[test]
    fn swapped_letters_are_one_edit() {
        assert_eq!(edit_distance("gruop", "group"), 1);
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("", "end"), 3);
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        let suggest = |w| closest(w, SUBSCRIPTION_OPTIONS).map(Symbol::as_str);
        assert_eq!(suggest("gruop"), Some("group"));
        assert_eq!(suggest("message"), Some("messages"));
        assert_eq!(suggest("max_retry"), Some("max_retries"));
        assert_eq!(suggest("transaction"), Some("transactional"));
        assert_eq!(suggest("queue"), None);
        assert_eq!(suggest("x"), None);
    }
}
