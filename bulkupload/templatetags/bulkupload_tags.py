from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key: str) -> Any:
    """``{{ row.values|get_item:column.key }}``"""
    return (mapping or {}).get(key, "")
