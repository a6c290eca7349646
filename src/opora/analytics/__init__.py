"""Analytics: metrics from ticket events, reports, drill-down, exports, scheduled reports and spikes."""
