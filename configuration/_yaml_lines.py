"""Where things are in a YAML file: the line of every key, and syntax errors as
`file:line:column`. Shared by the config schema and the IVR's flow files; it needs
PyYAML only (no pydantic), so a process that loads flows does not pay for the schema.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["line_index", "nearest_line", "yaml_error_message"]


def line_index(node: yaml.Node, path: tuple[str | int, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path in a composed YAML document to its 1-based line.

    Mapping keys appear as the scalar's text (`1:` is "1", not the int the loader
    makes of it); sequence items by their index.
    """
    index: dict[tuple[Any, ...], int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*path, key_node.value)
            index.update(line_index(value_node, key))
            index[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(line_index(item, (*path, i)))
    return index


def nearest_line(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int:
    """The line of `loc`, or of its closest ancestor the index knows (1 at worst)."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in index:
            return index[loc[:cut]]
    return 1


def yaml_error_message(exc: yaml.YAMLError, text: str, source: str) -> str:
    """`file:line:column: not valid YAML: problem (context)` and the line with a caret.

    PyYAML's own text names the stream, which for a string is "<unicode string>".
    """
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return (
            f"{source}:{line}:{column}: not valid YAML: character "
            f"#x{exc.character:04x} is not allowed ({exc.reason})"
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{source}: not valid YAML: {exc}"
    mark = exc.problem_mark or exc.context_mark
    where = source if mark is None else f"{source}:{mark.line + 1}:{mark.column + 1}"
    what = exc.problem or exc.context or "syntax error"
    if exc.problem and exc.context:
        context, start = exc.context, exc.context_mark
        if start is not None and mark is not None and start.line != mark.line:
            context += f" that starts at line {start.line + 1}, column {start.column + 1}"
        what += f" ({context})"
    snippet = mark.get_snippet() if mark is not None else None
    return f"{where}: not valid YAML: {what}" + (f"\n{snippet}" if snippet else "")
