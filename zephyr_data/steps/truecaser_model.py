"""Importing this module loads the truecasing model and tokenizer (seconds of unpickling): the
worker server imports it once, so that every worker it forks starts with them loaded."""

from .truecaser import _tokenizer, _truecaser

_truecaser()
_tokenizer()
