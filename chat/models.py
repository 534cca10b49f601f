"""Live chat: what is chat-only (sites, visitors, the live session, routing). A chat's lines are
ticket messages on a ticket whose channel is `chat` (tickets.models)."""
