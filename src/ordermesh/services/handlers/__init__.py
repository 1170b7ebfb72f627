"""Command and event handlers, by area."""

from __future__ import annotations

from ordermesh.domain import commands, events
from ordermesh.services.handlers import (
    catalogue,
    network_stock,
    orders,
    shipments,
    stock,
    stock_sync,
)
from ordermesh.services.messagebus import CommandHandler, EventHandler

COMMAND_HANDLERS: dict[type[commands.Command], CommandHandler] = {
    commands.CreateOrder: orders.create_order,
    commands.ImportOrder: orders.import_order,
    commands.ImportOrders: orders.import_orders,
    commands.AllocateOrder: orders.allocate_order,
    commands.AllocateBackorders: orders.allocate_backorders,
    commands.CancelOrder: orders.cancel_order,
    commands.HoldOrder: orders.hold_order,
    commands.ReleaseHold: orders.release_hold,
    commands.ShipOrder: shipments.ship_order,
    commands.RecordShipmentConfirmation: shipments.record_shipment_confirmation,
    commands.ReceiveStock: stock.receive_stock,
    commands.AdjustStock: stock.adjust_stock,
    commands.TransferStock: stock.transfer_stock,
    commands.RecordCount: stock.record_count,
    commands.CountNetworkStock: network_stock.count_network_stock,
    commands.ImportStockCounts: stock.import_stock_counts,
    commands.UpsertProducts: catalogue.upsert_products,
    commands.CreateLocation: catalogue.create_location,
    commands.UpsertListing: catalogue.upsert_listing,
    commands.RecomputeListings: stock_sync.recompute_listings,
    commands.ConfigureStockSync: stock_sync.configure_stock_sync,
    commands.SetSkuBuffer: stock_sync.set_sku_buffer,
}

EVENT_HANDLERS: dict[type[events.Event], list[EventHandler]] = {
    events.StockChanged: [stock.retry_backorders_when_stock_arrives],
    events.HoldReleased: [orders.allocate_when_hold_released],
}
