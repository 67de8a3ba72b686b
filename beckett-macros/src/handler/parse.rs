//! The signature of a registered function, and the values of the options
//! that say how it runs (`max_retries`, `timeout`).

use crate::symbol;
use proc_macro2::Span;
use syn::Token;

/// The signature of a function under `#[subscription]` or `#[recurring]`,
/// with everything a registered function must not have recorded for
/// validation to report.
pub struct Signature<'a> {
    /// The function's name, which the generated wrapper calls.
    pub ident: &'a syn::Ident,
    /// `async`, which a registered function needs.
    pub asyncness: Option<Token![async]>,
    /// `unsafe`, which a registered function cannot be.
    pub unsafety: Option<Token![unsafe]>,
    /// The `fn` keyword.
    pub fn_token: Token![fn],
    /// Generics, which a registered function cannot have.
    pub generics: &'a syn::Generics,
    /// A `self` parameter, which a registered function cannot have.
    pub receiver: Option<&'a syn::Receiver>,
    /// The parentheses around the parameters.
    pub parens: Span,
    /// The types of the parameters other than `self`, in order.
    pub params: Vec<&'a syn::Type>,
    /// The return type, if one is written.
    pub output: Option<&'a syn::Type>,
}

impl<'a> Signature<'a> {
    /// Describes a function's signature; never fails.
    pub fn parse(sig: &'a syn::Signature) -> Self {
        let mut receiver = None;
        let mut params = Vec::new();
        for input in &sig.inputs {
            match input {
                syn::FnArg::Receiver(r) => receiver = Some(r),
                syn::FnArg::Typed(typed) => params.push(&*typed.ty),
            }
        }
        Self {
            ident: &sig.ident,
            asyncness: sig.asyncness,
            unsafety: sig.unsafety,
            fn_token: sig.fn_token,
            generics: &sig.generics,
            receiver,
            parens: sig.paren_token.span.join(),
            params,
            output: match &sig.output {
                syn::ReturnType::Default => None,
                syn::ReturnType::Type(_, ty) => Some(ty),
            },
        }
    }
}

/// `max_retries = N` for any `N` a `u32` holds.
pub fn max_retries(lit: &syn::LitInt) -> syn::Result<u32> {
    lit.base10_parse().map_err(|_| {
        syn::Error::new_spanned(
            lit,
            format!(
                "`{}` must be an integer from 0 to {}",
                symbol::MAX_RETRIES,
                u32::MAX
            ),
        )
    })
}

/// `timeout = "..."`: a duration in milliseconds from an integer and a
/// unit (`ms`, `s`, `m` or `h`), greater than zero: `"500ms"`, `"30s"`.
pub fn timeout(lit: &syn::LitStr) -> syn::Result<u64> {
    let error = |message: &str| Err(syn::Error::new_spanned(lit, message));
    let text = lit.value();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => 0,
    };
    let Some(millis) = number
        .parse::<u64>()
        .ok()
        .filter(|_| millis_per_unit > 0)
        .and_then(|n| n.checked_mul(millis_per_unit))
    else {
        return error(r#"expected a duration like "500ms", "30s", "5m" or "1h""#);
    };
    if millis == 0 {
        return error("the timeout must be longer than zero");
    }
    Ok(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(text: &str) -> Result<u64, String> {
        timeout(&syn::LitStr::new(text, Span::call_site())).map_err(|e| e.to_string())
    }

    #[test]
    fn timeouts_in_each_unit() {
        assert_eq!(timeout_of("500ms"), Ok(500));
        assert_eq!(timeout_of("30s"), Ok(30_000));
        assert_eq!(timeout_of("5m"), Ok(300_000));
        assert_eq!(timeout_of("1h"), Ok(3_600_000));
    }

    #[test]
    fn timeouts_refused() {
        for text in [
            "",
            "30",
            "s",
            "1.5s",
            "30 s",
            "-1s",
            "99999999999999999999h",
        ] {
            assert!(timeout_of(text).is_err(), "{text:?} was accepted");
        }
        assert_eq!(
            timeout_of("0s"),
            Err("the timeout must be longer than zero".to_owned())
        );
    }
}
