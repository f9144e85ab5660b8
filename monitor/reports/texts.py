"""Every word a person reads in a report, in one place. Each is marked with N_() for the
gettext catalogue and translated with _() where a report is rendered (monitor.i18n), so a
report reads in the language in force."""

from monitor.i18n import N_

MONTHLY_TITLE = N_("Monthly operations and maintenance report")
SO_FAR = N_("month in progress: figures up to the time generated")
GENERATED = N_("generated")

SUMMARY = N_("Summary")
ITEM, VALUE = N_("Item"), N_("Value")
S_MONTH = N_("Month")
S_PERIOD = N_("Period")
S_ZONE = N_("Time zone of every time in this report")
S_GENERATED = N_("Generated at")
S_DELIVER = N_("Delivered on (1st working day of the next month)")
S_DUE = N_("Due by (5th working day of the next month)")
S_WORKING_DAYS = N_("Working days in the month")
S_DEVICES = N_("Devices")
S_AVAILABILITY = N_("Availability, all devices (%)")
S_FAULTS = N_("Faults (root faults opened in the month)")
S_SYMPTOMS = N_("Symptom faults (behind a failed parent)")
S_MAINTENANCE = N_("Faults in maintenance windows")
S_ACK_BREACHED = N_("Acknowledge clock breached (count)")
S_ACK_SHARE = N_("Acknowledge clock breached (%)")
S_ACK_MEAN = N_("Mean time to acknowledge (min)")
S_RES_BREACHED = N_("Resolve clock breached (count)")
S_RES_SHARE = N_("Resolve clock breached (%)")
S_RES_MEAN = N_("Mean time to resolve (min)")
S_BUDGET = N_("Fault budget per device and month")
S_OVER_BUDGET = N_("Devices over the budget")
S_CONFIG_CHANGES = N_("Configuration changes")

AVAIL_SITE = N_("Availability by site")
AVAIL_CLASS = N_("Availability by class")
AVAIL_DEVICE = N_("Availability by device")
FAULTS_SEVERITY = N_("Faults by severity")
FAULTS_RULE = N_("Faults by rule")
FAULTS_SITE = N_("Faults by site")
CLOCKS = N_("Contract clocks")
BREACHES = N_("Contract clocks breached")
OVER_BUDGET = N_("Devices over the monthly fault budget")
TOP_OFFENDERS = N_("Top offenders")
CONFIG_CHANGES = N_("Configuration changes")
WATCH = N_("Heightened-watch periods")

C_SITE, C_CLASS, C_DEVICE, C_DEVICES = N_("Site"), N_("Class"), N_("Device"), N_("Devices")
C_DOWN_MIN, C_AVAIL = N_("Down time (min)"), N_("Availability (%)")
C_FAULTS, C_SEVERITY, C_RULE = N_("Faults"), N_("Severity"), N_("Rule")
C_CLOCK, C_WITH_CLOCK, C_STOPPED, C_BREACHED, C_SHARE, C_RUNNING, C_MEAN, C_MAX = (
    N_("Clock"), N_("Faults with the clock"), N_("Stopped"), N_("Breached"), N_("Breached (%)"), N_("Running"),
    N_("Mean (min)"), N_("Max (min)"))
C_FAULT_ID, C_DEADLINE, C_STOPPED_AT = N_("Fault"), N_("Deadline"), N_("Stopped at")
C_VERSION, C_TIME = N_("Version"), N_("Time")
C_PERIOD, C_FIRST, C_LAST, C_DAYS = N_("Period"), N_("First day"), N_("Last day"), N_("Days")
CLOCK_NAMES = {"acknowledge": N_("acknowledge"), "resolve": N_("resolve")}
STILL_RUNNING = N_("still running")
NONE = N_("none")

# -- fault analysis report (故障分析报告) --
FAULT_TITLE = N_("Fault analysis report")
F_FAULT = N_("Fault")
F_TIMELINE = N_("Timeline")
F_SYMPTOMS = N_("Devices behind it (symptom faults)")
F_ANALYSIS = N_("Analysis")
F_ID, F_DEVICE, F_SITE, F_CLASS, F_RULE, F_INSTANCE = (
    N_("Fault id"), N_("Device"), N_("Site"), N_("Class"), N_("Rule"), N_("Instance"))
F_SEVERITY, F_STATE, F_MESSAGE = N_("Severity"), N_("State"), N_("Message")
F_FIRST, F_LAST, F_WORST, F_THRESHOLD = N_("First value"), N_("Last value"), N_("Worst value"), N_("Threshold")
F_OCCURRENCES, F_HEIGHTENED, F_MAINTENANCE, F_SYMPTOM_OF = (
    N_("Occurrences (openings)"), N_("Opened during heightened watch"), N_("Maintenance window"),
    N_("Symptom of fault"))
F_TTA, F_TTR = N_("Time to acknowledge (min)"), N_("Time to resolve (min)")
F_ACK_CLOCK, F_RES_CLOCK = N_("Acknowledge clock"), N_("Resolve clock")
F_ANALYSIS_DUE = N_("Analysis due by (one working day after resolution)")
F_ANALYSIS_LATE = N_("Analysis overdue")
CLOCK_MET, CLOCK_BREACHED, CLOCK_RUNNING, CLOCK_NONE = (
    N_("met"), N_("breached"), N_("running"), N_("no clock (symptom or maintenance)"))
YES, NO = N_("yes"), N_("no")
C_EVENT, C_BY, C_DETAIL, C_OPENED, C_RESOLVED = N_("Event"), N_("By"), N_("Detail"), N_("Opened"), N_("Resolved")
E_OPENED, E_ACKNOWLEDGED, E_NOTE, E_RESOLVED, E_CLOSED = (
    N_("opened"), N_("acknowledged"), N_("note"), N_("resolved"), N_("closed"))
E_ACK_DEADLINE, E_RES_DEADLINE, E_NOTICE = N_("acknowledge deadline"), N_("resolve deadline"), N_("notification")
E_AUTO = N_("automatically (the condition cleared)")
A_CAUSE, A_RESOLUTION, A_PREVENTION = N_("Cause"), N_("Resolution"), N_("Prevention")
NOT_WRITTEN = N_("not written yet")
