"""A JSON value as block YAML that YAML 1.1 and 1.2 readers read back the same (PyYAML).

PyYAML's safe dumper quotes every string its own (YAML 1.1) resolver would take
for something else — `yes`, `on`, `1_000`, `2001-12-14`, `~` — but YAML 1.2
readers (the AsyncAPI tools, most of them on JavaScript's `yaml`) also read
`0o17` as an octal number; the resolver added here makes PyYAML quote those too.
PyYAML writes NEL (U+0085) raw even where its own reader takes it for a line
break, so strings holding one are double-quoted (where it is escaped). Aliases are off: a dict used twice in a document is written out twice, because
`&id001` anchors in an exported document surprise every reader but PyYAML.
"""

from __future__ import annotations

import re
from typing import Any


def dumps(value: Any) -> str:
    """`value` (dict, list, str, int, float, bool, None) as a block-style YAML document."""
    import yaml  # type: ignore[import-untyped]  # no stubs installed

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
        style = '"' if "\x85" in text else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    def _mapping(dumper: yaml.SafeDumper, mapping: dict[Any, Any]) -> yaml.MappingNode:
        if not all(isinstance(key, str) for key in mapping):
            raise TypeError(f"not a JSON object: keys {sorted(repr(k) for k in mapping if not isinstance(k, str))}")
        return dumper.represent_dict(mapping.items())

    _Dumper.add_representer(str, _string)
    _Dumper.add_representer(dict, _mapping)
    _Dumper.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?0o[0-7]+$"), list("-+0"))
    try:
        return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**31 - 1)
    except yaml.representer.RepresenterError as exc:
        raise TypeError(f"not a JSON value: {exc.args[-1]!r}") from None
