"""The API's operations, one module per part of the domain."""
