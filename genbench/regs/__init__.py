"""Regularizers: one file each, a `Regularizer` subclass overriding only the hooks it needs.
`reg=<file name>` or `reg=[a,b]` chooses them; the YAML's `_target_` names the class."""
