"""Reference data: Guangdong cities, the assisted western regions, and the editable dictionaries."""
