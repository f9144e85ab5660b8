"""Every word a person reads in a report, in one place. Each is marked with N_() for the
gettext catalogue and translated with _() where a report or a scheduled message is made
(monitor.i18n), so it reads in the language in force."""

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

# -- machine-room inspection record (机房巡检记录) --
INSPECTION_TITLE = N_("Machine-room inspection record")
I_SUMMARY = N_("Summary")
I_SITES = N_("Devices by site")
I_DEVICES = N_("Device states")
I_ENV = N_("Machine-room temperature and humidity")
I_UPS = N_("UPS")
I_DISKS = N_("NVR disks")
I_OPEN = N_("Open faults")
I_NEW = N_("Faults since the last inspection")
I_NO_DATA = N_("Devices that answered nothing (no data)")
I_SIGN = N_("Sign-off")
I_ITEM, I_VALUE, I_GENERATED = N_("Item"), N_("Value"), N_("generated")
I_ZONE, I_DEVICES_COUNT = N_("Time zone of every time in this record"), N_("Devices")
IC_SITE, IC_DEVICE, IC_CLASS, IC_DEVICES = N_("Site"), N_("Device"), N_("Class"), N_("Devices")
IC_FAULT, IC_RULE, IC_SEVERITY, IC_DETAIL = N_("Fault"), N_("Rule"), N_("Severity"), N_("Detail")
IC_OPENED, IC_RESOLVED = N_("Opened"), N_("Resolved")
I_AT, I_PREVIOUS, I_SOURCE, I_WINDOW = (
    N_("Inspection time"), N_("Previous inspection"), N_("Values from"),
    N_("Values older than this do not count (min)"))
I_UP, I_DOWN, I_NODATA_COUNT = N_("Devices up"), N_("Devices down"), N_("Devices with no data")
I_OPEN_COUNT, I_NEW_COUNT = N_("Open faults"), N_("Faults opened since the previous inspection")
I_UPS_ABNORMAL = N_("UPS not on normal power, or battery not normal")
I_ENV_ABNORMAL = N_("Sensors not normal")
I_DISK_ABNORMAL = N_("NVR disks not normal")
C_ADDRESS, C_STATE, C_SINCE, C_LAST_PROBE = N_("Address"), N_("State"), N_("Since"), N_("Last probe")
C_RTT, C_LOSS, C_JITTER, C_SNMP, C_SSH = N_("RTT (ms)"), N_("Loss (%)"), N_("Jitter (ms)"), N_("SNMP"), N_("SSH")
C_SENSOR, C_TEMPERATURE, C_HUMIDITY, C_READ_AT = (
    N_("Sensor"), N_("Temperature (°C)"), N_("Humidity (%)"), N_("Read at"))
C_SOURCE, C_BATTERY, C_CHARGE, C_RUNTIME, C_LOAD, C_INPUT_V = (
    N_("Output source"), N_("Battery"), N_("Charge (%)"), N_("Runtime (min)"), N_("Load (%)"), N_("Input voltage (V)"))
C_DISK, C_DISK_NAME, C_DISK_STATUS, C_CAPACITY, C_USED = (
    N_("Disk"), N_("Name"), N_("Status"), N_("Capacity (GB)"), N_("Used (%)"))
C_UP, C_DOWN, C_NODATA, C_REASON, C_SYMPTOM_OF = N_("Up"), N_("Down"), N_("No data"), N_("Why"), N_("Symptom of fault")
STATE_UP, STATE_DOWN, STATE_NO_DATA = N_("up"), N_("down"), N_("no data")
R_NEVER = N_("no probe result yet")
R_STALE = N_("nothing heard since {time}")
R_UNMONITORED = N_("not monitored (no probe that tells reachability is on)")
R_NO_READINGS = N_("{what}: no readings ({why})")
R_SNMP_SAID = N_("SNMP: {state}")
R_SNMP_NOT_POLLED = N_("SNMP is not polled")
R_SNMP_WITHOUT = N_("SNMP answers, but no profile reads these values from this model")
WHAT_UPS, WHAT_ENV, WHAT_DISKS = N_("UPS"), N_("sensors"), N_("disks")
SIGN_ROWS = (N_("Inspector"), N_("Signature"), N_("Date and time signed"), N_("Remarks"))

# -- what the daemon sends with a scheduled report --
M_REPORT = N_("[REPORT] {title}")
M_FILES = N_("Files:")
M_INSPECTION_LINE = (N_("{devices} devices: {up} up, {down} down, {no_data} with no data; {open} open faults, "
                     "{new} new since {previous}; UPS not normal: {ups}; sensors not normal: {env}; "
                     "disks not normal: {disks}"))
M_MONTHLY_LINE = (N_("{month}: availability {availability:.3f} %, {faults} faults, acknowledge clock breached "
                  "{ack_breached}, resolve clock breached {res_breached}; due by {due}"))
M_LATE = N_("Made at {made} for the {slot} slot: the daemon was not running then.")
M_REMINDER_TITLE = N_("[ANALYSIS DUE] fault {id} {device} {rule}: the written analysis is due by the end of {due}")
M_REMINDER_TEXT = (N_("Fault {id} ({severity}) on {device} at {site}, rule {rule}, resolved at {resolved}, has no "
                   "written analysis yet. The contract wants it within one working day of the resolution: by the end "
                   "of {due}.\nWrite it with: netvigil close {id} --by NAME --cause ... --resolution ... "
                   "--prevention ...\nThe fault report: netvigil report fault {id}"))
SOURCE_DAEMON = N_("the running daemon (pid {pid}): its last device states and samples")
SOURCE_EMBEDDED = N_("the embedded store's history ({path})")

# -- the monthly report's network quality table (from the metrics store) --
N_TITLE = N_("Network quality by device (ICMP) from {source}, samples {first} .. {last}")
N_TITLE_NONE = N_("Network quality by device (ICMP): no figures ({problem})")
N_RUNS, N_ANSWERED, N_RTT, N_LOSS = N_("Probe runs"), N_("Answered (%)"), N_("Mean RTT (ms)"), N_("Mean loss (%)")
N_JITTER, N_JITTER_MAX = N_("Mean jitter (ms)"), N_("Highest jitter (ms)")
