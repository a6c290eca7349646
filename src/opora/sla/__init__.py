"""Service levels: business-hours calendars now; policies, timers and breach jobs build on them."""

from opora.sla.calendar import CALENDAR_24_7, MAX_CLOSED_STRETCH, WEEKDAYS, BusinessCalendar, HoursSpec

__all__ = ["CALENDAR_24_7", "MAX_CLOSED_STRETCH", "WEEKDAYS", "BusinessCalendar", "HoursSpec"]
