//! URL and address checks shared by every outbound call (custom hosts, image URLs, redirects):
//! one place for the rule "what the gateway may connect to".
