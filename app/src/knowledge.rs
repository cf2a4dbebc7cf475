//! The provider knowledge base in force, as the pages read it: the display
//! names of providers and origin software.
//!
//! Names are looked up on the server, in the knowledge base the server
//! gives each request (an operator's override directory included), and
//! travel to the browser in the server functions' answers, next to the ids.

/// The display name of provider (or origin software) `id`, such as
/// "Amazon CloudFront"; the id itself when the knowledge base does not
/// know it.
///
/// On the server this reads the knowledge base given to the request, or
/// the builtin set outside a request (as for the feeds). The browser has
/// no knowledge base and gets the id back: the names it shows come in the
/// server functions' answers.
pub fn provider_name(id: &str) -> String {
    #[cfg(feature = "ssr")]
    {
        let knowledge = leptos::prelude::use_context::<std::sync::Arc<engine::KnowledgeBase>>()
            .unwrap_or_else(engine::KnowledgeBase::shared);
        if let Some(name) = knowledge.name_of(id) {
            return name.to_owned();
        }
    }
    id.to_owned()
}

/// The provider a search names, by id or display name, ignoring case,
/// spaces and hyphens: "cloudflare", "Amazon CloudFront", "azure front
/// door". Origin software (nginx, ...) is not a provider.
#[cfg(feature = "ssr")]
pub fn provider_named(query: &str) -> Option<String> {
    let knowledge = leptos::prelude::use_context::<std::sync::Arc<engine::KnowledgeBase>>()
        .unwrap_or_else(engine::KnowledgeBase::shared);
    let squash = |text: &str| -> String {
        text.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = squash(query);
    if wanted.is_empty() {
        return None;
    }
    let found = knowledge
        .ids()
        .filter(|(_, kind)| *kind == engine::knowledge::Kind::Provider)
        .map(|(id, _)| id.as_str())
        .find(|id| {
            squash(id) == wanted
                || knowledge
                    .name_of(id)
                    .is_some_and(|name| squash(name) == wanted)
        })
        .map(str::to_owned);
    found
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use std::sync::Arc;

    use engine::knowledge::SourceFile;
    use engine::{KnowledgeBase, Limits};
    use leptos::prelude::{provide_context, Owner};

    use super::provider_name;

    #[test]
    fn names_come_from_the_knowledge_base_of_the_request() {
        let file = SourceFile {
            name: "edgeco.toml".to_owned(),
            text: "id = \"edgeco\"\nname = \"EdgeCo Global\"\nrole = \"cdn\"\nsource = \"test\"\n"
                .to_owned(),
        };
        let knowledge = KnowledgeBase::from_sources(&[file], &[], &Limits::default()).unwrap();
        let owner = Owner::new();
        owner.with(|| {
            provide_context(Arc::new(knowledge));
            assert_eq!(provider_name("edgeco"), "EdgeCo Global");
            // Not in this request's set, although the builtin one has it.
            assert_eq!(provider_name("cloudfront"), "cloudfront");
        });
    }

    #[test]
    fn a_search_finds_a_provider_by_id_or_name() {
        use super::provider_named;
        assert_eq!(provider_named("Cloudflare").as_deref(), Some("cloudflare"));
        assert_eq!(
            provider_named(" amazon cloudfront ").as_deref(),
            Some("cloudfront")
        );
        assert_eq!(
            provider_named("Azure Front Door").as_deref(),
            Some("azure-front-door")
        );
        assert_eq!(provider_named("cloudflare.com"), None);
        assert_eq!(provider_named("nginx"), None);
        assert_eq!(provider_named(""), None);
    }

    #[test]
    fn outside_a_request_the_builtin_set_names_and_unknown_ids_stay() {
        assert_eq!(provider_name("cloudfront"), "Amazon CloudFront");
        assert_eq!(provider_name("nobody-we-know"), "nobody-we-know");
    }
}

/// The page people read for provider `id`'s own account of its incidents,
/// when the knowledge base knows one.
#[cfg(feature = "ssr")]
pub fn status_page(id: &str) -> Option<String> {
    let knowledge = leptos::prelude::use_context::<std::sync::Arc<engine::KnowledgeBase>>()
        .unwrap_or_else(engine::KnowledgeBase::shared);
    let page = knowledge
        .status_pages()
        .find(|(provider, _)| provider.as_str() == id)
        .map(|(_, page)| page.page.clone());
    page
}
