"""The wsgi instrumentor's tests: wsgiref is in the standard library, nothing to skip for."""
