"""Calculated query cost and the leaky bucket that meters it.

Shopify's rules (shopify.dev, "GraphQL Admin API rate limits"): scalars and enums cost 0, an
object 1, a connection 2 plus what it returns times ``first``/``last``, a mutation 10. The
requested cost is taken from the query before it runs; the actual cost after, from what was
returned. The bucket must hold the requested cost, and is refunded the difference afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    value_from_ast,
)

from ordermesh.sandbox.shopify.config import Clock

MUTATION_COST = 10
CONNECTION_BASE_COST = 2
# Wrappers of a connection cost nothing of their own; the connection pays for its nodes.
_FREE_OBJECTS = {"PageInfo"}


@dataclass(slots=True)
class LeakyBucket:
    maximum: float
    restore_rate: float
    clock: Clock
    available: float = -1.0
    _last: float = 0.0

    def __post_init__(self) -> None:
        self.available = self.maximum
        self._last = self.clock.now().timestamp()

    def _restore(self) -> None:
        now = self.clock.now().timestamp()
        self.available = min(self.maximum, self.available + (now - self._last) * self.restore_rate)
        self._last = now

    def try_take(self, cost: float) -> bool:
        self._restore()
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def refund(self, amount: float) -> None:
        self._restore()
        self.available = min(self.maximum, self.available + amount)

    def status(self) -> dict[str, float]:
        self._restore()
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": float(int(self.available)),
            "restoreRate": float(self.restore_rate),
        }


def _is_connection(type_: GraphQLNamedType) -> bool:
    return type_.name.endswith("Connection")


class CostCalculator:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]):
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }

    def operation_cost(self, operation: OperationDefinitionNode, data: Any = None) -> int:
        """The requested cost without ``data``; the actual cost given what was returned."""
        if operation.operation == OperationType.MUTATION:
            root = self.schema.mutation_type
            assert root is not None
            total = 0
            for node in self._fields(operation.selection_set):
                value = data.get(_key(node)) if isinstance(data, dict) else None
                field = root.fields.get(node.name.value)
                if field is None:
                    continue
                payload = get_named_type(field.type)
                total += MUTATION_COST + self._selection_cost(
                    payload, node.selection_set, value, data is not None
                )
            return total
        root_type = self.schema.query_type
        assert root_type is not None
        return self._selection_cost(root_type, operation.selection_set, data, data is not None)

    def _fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        found: list[FieldNode] = []
        if selection_set is None:
            return found
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                found.extend(self._fields(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    found.extend(self._fields(fragment.selection_set))
        return found

    def _selection_cost(
        self,
        parent: GraphQLNamedType,
        selection_set: SelectionSetNode | None,
        data: Any,
        actual: bool,
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node in self._fields(selection_set):
            name = node.name.value
            if name.startswith("__"):
                continue
            field = self._field_def(parent, name)
            if field is None:
                continue
            value = data.get(_key(node)) if isinstance(data, dict) else None
            if actual and value is None:
                continue
            total += self._field_cost(field, node, value, actual)
        return total

    def _field_def(self, parent: GraphQLNamedType, name: str) -> Any:
        fields = getattr(parent, "fields", None)
        if fields is not None and name in fields:
            return fields[name]
        # A field selected through an inline fragment on an implementation of an interface.
        for type_ in self.schema.type_map.values():
            if (
                isinstance(type_, GraphQLObjectType)
                and parent in type_.interfaces
                and name in type_.fields
            ):
                return type_.fields[name]
        return None

    def _field_cost(self, field: Any, node: FieldNode, value: Any, actual: bool) -> int:
        named = get_named_type(field.type)
        if not isinstance(named, GraphQLObjectType) and not hasattr(named, "fields"):
            return 0
        if _is_connection(named):
            return self._connection_cost(named, field, node, value, actual)
        if named.name in _FREE_OBJECTS:
            return 0
        if _is_list(field.type):
            items = value if actual and isinstance(value, list) else None
            if items is not None:
                return sum(
                    1 + self._selection_cost(named, node.selection_set, item, actual)
                    for item in items
                )
            size = self._page_size(field, node) or 1
            return size * (1 + self._selection_cost(named, node.selection_set, None, False))
        return 1 + self._selection_cost(named, node.selection_set, value, actual)

    def _connection_cost(
        self, connection: Any, field: Any, node: FieldNode, value: Any, actual: bool
    ) -> int:
        node_type = get_named_type(connection.fields["nodes"].type)
        per_node_selections: list[tuple[SelectionSetNode | None, str]] = []
        for sub in self._fields(node.selection_set):
            if sub.name.value == "nodes":
                per_node_selections.append((sub.selection_set, "nodes"))
            elif sub.name.value == "edges":
                for edge_field in self._fields(sub.selection_set):
                    if edge_field.name.value == "node":
                        per_node_selections.append((edge_field.selection_set, "edges"))
        if actual and isinstance(value, dict):
            returned = 0
            for selection_set, where in per_node_selections:
                items = value.get("nodes") if where == "nodes" else value.get("edges")
                returned = max(
                    returned,
                    sum(
                        1
                        + self._selection_cost(
                            node_type,
                            selection_set,
                            item.get("node") if where == "edges" else item,
                            True,
                        )
                        for item in items or []
                    ),
                )
            return CONNECTION_BASE_COST + returned
        size = self._page_size(field, node) or 0
        per_node = max(
            (1 + self._selection_cost(node_type, s, None, False) for s, _ in per_node_selections),
            default=1,
        )
        return CONNECTION_BASE_COST + size * per_node

    def _page_size(self, field: Any, node: FieldNode) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                arg_def = field.args.get(argument.name.value)
                if arg_def is None:
                    continue
                size = value_from_ast(argument.value, arg_def.type, self.variables)
                if isinstance(size, int):
                    return size
        return None


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _is_list(type_: Any) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)
