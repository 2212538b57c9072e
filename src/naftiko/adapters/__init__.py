"""Protocol adapters: each translates its protocol ⇄ (action, arguments) and Result/errors."""
