//! [`setters!`]: the plain setters of this crate's builders, written once.

/// Builder methods that store their argument in the builder's field of the same name, each with its own
/// documentation; `=> into` converts the argument first (for `impl Into<…>` parameters):
///
/// ```ignore
/// setters! {
///     /// The most entries held.
///     max_entries: u64,
///     /// The table name.
///     table: impl Into<String> => into,
/// }
/// ```
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty $(=> $convert:ident)?),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $name: $ty) -> Self {
                self.$name = $name$(.$convert())?;
                self
            }
        )*
    };
}
pub(crate) use setters;
