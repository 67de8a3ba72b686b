//! Turns `#[recurring("<cron>", ...)]` and the function under it into a
//! typed description: [`RecurringArgs`] and [`JobSig`]. The expression is
//! only read here; whether it is a valid schedule is for `validate`.

use crate::errors::Errors;
use crate::handler;
use crate::options::OptionParser;
use crate::symbol;
use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::Parser;

/// The arguments of `#[recurring(...)]`.
#[derive(Default)]
pub struct RecurringArgs {
    /// The cron expression, which comes first.
    pub cron: Option<syn::LitStr>,
    /// Whether something was written where the expression goes, so that
    /// its absence has been reported already.
    pub cron_attempted: bool,
    /// `group = "..."`.
    pub group: Option<syn::LitStr>,
    /// `name = "..."`.
    pub name: Option<syn::LitStr>,
    /// `max_retries = N`.
    pub max_retries: Option<u32>,
    /// `timeout = "30s"`, in milliseconds.
    pub timeout: Option<u64>,
    /// Whether every option was read without a mistake. When not, an option
    /// that seems missing may just be misspelt, so it is not reported.
    pub complete: bool,
}

impl RecurringArgs {
    /// Reads the attribute's arguments, reporting each mistake to `errors`.
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Self::default();
        let options = args.take_cron(tokens, errors);
        let mut parser = OptionParser::new(symbol::RECURRING_OPTIONS, errors);
        let syntax = syn::meta::parser(|meta| {
            let Some(option) = parser.option(&meta)? else {
                return Ok(());
            };
            // `option` returns only the names in RECURRING_OPTIONS.
            if option == symbol::GROUP {
                args.group = parser.string(option, &meta)?;
            } else if option == symbol::NAME {
                args.name = parser.string(option, &meta)?;
            } else if option == symbol::MAX_RETRIES {
                if let Some(lit) = parser.integer(option, &meta)? {
                    args.max_retries = parser.accept(handler::parse::max_retries(&lit));
                }
            } else if option == symbol::TIMEOUT {
                if let Some(lit) = parser.string(option, &meta)? {
                    args.timeout = parser.accept(handler::parse::timeout(&lit));
                }
            }
            Ok(())
        })
        .parse2(options);
        args.complete = parser.finish(syntax);
        args
    }

    /// Takes the expression from the front of the arguments and returns the
    /// options after it. The arguments are split at their top-level commas:
    /// the first part is the expression when it is one string literal; a
    /// string literal standing alone anywhere else is reported and taken
    /// out, so the options around it still parse.
    fn take_cron(&mut self, tokens: TokenStream, errors: &mut Errors) -> TokenStream {
        let mut options = TokenStream::new();
        for (index, part) in split_at_commas(tokens).into_iter().enumerate() {
            let string = match part.as_slice() {
                [TokenTree::Literal(literal)] => {
                    syn::parse2::<syn::LitStr>(literal.to_token_stream()).ok()
                }
                _ => None,
            };
            match (index, string) {
                (0, Some(lit)) => {
                    self.cron = Some(lit);
                    self.cron_attempted = true;
                }
                (0, None) if !starts_option(&part) => {
                    self.cron_attempted = true;
                    let written: TokenStream = part.into_iter().collect();
                    errors.spanned(
                        written,
                        "the cron expression must be a string literal, in quotes: \
                         `#[recurring(\"0 9 * * *\", group = \"...\")]`",
                    );
                }
                (_, Some(lit)) => {
                    self.cron_attempted = true;
                    let message = if self.cron.is_none() {
                        "the cron expression must come first, before the options: \
                         `#[recurring(\"0 9 * * *\", group = \"...\")]`"
                    } else {
                        "a recurring job has one cron expression; remove this one"
                    };
                    errors.spanned(&lit, message);
                    if self.cron.is_none() {
                        self.cron = Some(lit);
                    }
                }
                (_, None) => {
                    if !options.is_empty() {
                        options.extend(quote::quote!(,));
                    }
                    options.extend(part);
                }
            }
        }
        options
    }
}

/// Whether `part` starts like an option (`group = ...`): with a name.
fn starts_option(part: &[TokenTree]) -> bool {
    matches!(part.first(), Some(TokenTree::Ident(_)) | None)
}

/// The top-level parts of `tokens` between commas; commas inside
/// brackets belong to their group. A trailing comma leaves no empty part.
fn split_at_commas(tokens: TokenStream) -> Vec<Vec<TokenTree>> {
    let mut parts = Vec::new();
    let mut part = Vec::new();
    for token in tokens {
        match token {
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
                parts.push(std::mem::take(&mut part));
            }
            token => part.push(token),
        }
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

/// The signature of the function under `#[recurring]`: an optional
/// occurrence, then an optional context.
pub struct JobSig<'a> {
    /// What every registered function's signature records.
    pub signature: handler::parse::Signature<'a>,
    /// The type of the parameter that receives the occurrence, which must
    /// be `beckett::recurring::Occurrence`: the first of two, or the only
    /// one when its type is named `Occurrence`.
    pub occurrence: Option<&'a syn::Type>,
    /// The type of the parameter that receives the context, which must be
    /// `beckett::Context`: the second of two, or the only one when its type
    /// is not named `Occurrence`.
    pub context: Option<&'a syn::Type>,
    /// Parameters after the second, which a job cannot have.
    pub extra: Vec<&'a syn::Type>,
}

impl<'a> JobSig<'a> {
    /// Describes a function's signature; never fails, as everything a job
    /// must not have is recorded for `validate` to report.
    ///
    /// The parameters are told apart by their number and place, and a
    /// single one by its type's name: `Occurrence` (or a reference to it)
    /// is the occurrence, anything else the context, so that a job written
    /// against an alias of the context keeps compiling. Whether each really
    /// has the type its place says is left to the compiler.
    pub fn parse(sig: &'a syn::Signature) -> Self {
        let signature = handler::parse::Signature::parse(sig);
        let params = signature.params.clone();
        let (occurrence, context, extra) = match params.as_slice() {
            [] => (None, None, Vec::new()),
            [only] if names(only, symbol::OCCURRENCE) => (Some(*only), None, Vec::new()),
            [only] => (None, Some(*only), Vec::new()),
            [first, second, extra @ ..] => (Some(*first), Some(*second), extra.to_vec()),
        };
        Self {
            signature,
            occurrence,
            context,
            extra,
        }
    }
}

/// Whether `ty` is a path whose last segment is `name`, or a reference to
/// one: `Occurrence`, `beckett::recurring::Occurrence`, `&Occurrence`.
pub fn names(ty: &syn::Type, name: symbol::Symbol) -> bool {
    match ty {
        syn::Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == name),
        syn::Type::Reference(reference) => names(&reference.elem, name),
        syn::Type::Paren(paren) => names(&paren.elem, name),
        syn::Type::Group(group) => names(&group.elem, name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// The arguments read from `tokens`, and the messages of the mistakes
    /// reported.
    fn parse(tokens: TokenStream) -> (RecurringArgs, Vec<String>) {
        let mut errors = Errors::default();
        let args = RecurringArgs::parse(tokens, &mut errors);
        let messages = errors
            .finish()
            .err()
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default();
        (args, messages)
    }

    #[test]
    fn expression_then_every_option() {
        let (args, errors) = parse(quote!(
            "0 9 * * *",
            group = "Reporting",
            name = "digest",
            max_retries = 3,
            timeout = "30s",
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            args.cron.map(|lit| lit.value()).as_deref(),
            Some("0 9 * * *")
        );
        assert_eq!(
            args.group.map(|lit| lit.value()).as_deref(),
            Some("Reporting")
        );
        assert_eq!(args.name.map(|lit| lit.value()).as_deref(), Some("digest"));
        assert_eq!(args.max_retries, Some(3));
        assert_eq!(args.timeout, Some(30_000));
        assert!(args.complete);
    }

    #[test]
    fn expression_alone_or_absent() {
        let (args, errors) = parse(quote!(r"@daily"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(args.cron.map(|lit| lit.value()).as_deref(), Some("@daily"));

        let (args, errors) = parse(quote!(group = "Reporting"));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(args.cron.is_none() && !args.cron_attempted);
        assert!(args.group.is_some());
    }

    #[test]
    fn expression_after_the_options() {
        let (args, errors) = parse(quote!(group = "Reporting", "0 9 * * *"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("the cron expression must come first"));
        assert!(args.cron.is_some() && args.group.is_some());
    }

    #[test]
    fn two_expressions() {
        let (args, errors) = parse(quote!("0 9 * * *", group = "Reporting", "0 10 * * *"));
        assert_eq!(
            errors,
            ["a recurring job has one cron expression; remove this one"]
        );
        assert_eq!(
            args.cron.map(|lit| lit.value()).as_deref(),
            Some("0 9 * * *")
        );
    }

    #[test]
    fn expression_without_quotes() {
        let (args, errors) = parse(quote!(0 9 * * *, group = "Reporting"));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("the cron expression must be a string literal"));
        assert!(args.cron.is_none() && args.cron_attempted);
        assert!(args.group.is_some());
    }

    #[test]
    fn job_signatures() {
        /// Which parameter, by name, each place of the signature holds.
        fn places(sig: syn::Signature) -> (Option<String>, Option<String>, usize) {
            let sig = JobSig::parse(&sig);
            let text = |ty: Option<&syn::Type>| ty.map(crate::errors::source_text);
            (text(sig.occurrence), text(sig.context), sig.extra.len())
        }
        let occurrence = || Some("Occurrence".to_owned());
        let context = || Some("Context".to_owned());

        assert_eq!(
            places(syn::parse_quote!(async fn job() -> beckett::Result<()>)),
            (None, None, 0)
        );
        assert_eq!(
            places(syn::parse_quote!(async fn job(ctx: Context) -> beckett::Result<()>)),
            (None, context(), 0)
        );
        assert_eq!(
            places(syn::parse_quote!(async fn job(ctx: Ctx) -> beckett::Result<()>)),
            (None, Some("Ctx".to_owned()), 0)
        );
        assert_eq!(
            places(syn::parse_quote!(async fn job(o: Occurrence) -> beckett::Result<()>)),
            (occurrence(), None, 0)
        );
        assert_eq!(
            places(syn::parse_quote!(
                async fn job(o: &beckett::recurring::Occurrence) -> beckett::Result<()>
            )),
            (Some("&beckett::recurring::Occurrence".to_owned()), None, 0)
        );
        assert_eq!(
            places(syn::parse_quote!(
                async fn job(o: Occurrence, ctx: Context) -> beckett::Result<()>
            )),
            (occurrence(), context(), 0)
        );
        // Two parameters are told apart by their place only.
        assert_eq!(
            places(syn::parse_quote!(
                async fn job(ctx: Context, o: Occurrence, n: u32) -> beckett::Result<()>
            )),
            (context(), occurrence(), 1)
        );
    }

    #[test]
    fn type_names() {
        let named = |ty: syn::Type| names(&ty, symbol::OCCURRENCE);
        assert!(named(syn::parse_quote!(Occurrence)));
        assert!(named(syn::parse_quote!(beckett::recurring::Occurrence)));
        assert!(named(syn::parse_quote!(&mut Occurrence)));
        assert!(!named(syn::parse_quote!(Occurrences)));
        assert!(!named(syn::parse_quote!(Option<Occurrence>)));
        assert!(!named(syn::parse_quote!([Occurrence; 1])));
    }
}
