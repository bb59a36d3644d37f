"""kesu (客诉): a chat bot for customer-complaint intake."""
